import { type DynamicModule, Global, Module } from '@nestjs/common';
import type { AppConfig, ServiceName } from './config.schema.js';
import { loadConfig } from './load-config.js';

const loaded = new Map<ServiceName, AppConfig>();

/** The process environment, validated once per service and process (configuration is a start-up snapshot). */
export function configFor(service: ServiceName): AppConfig {
  let config = loaded.get(service);
  if (!config) {
    config = loadConfig(service, process.env);
    loaded.set(service, config);
  }
  return config;
}

/** Injection token for the validated {@link AppConfig}. */
export const APP_CONFIG = Symbol('APP_CONFIG');

@Global()
@Module({})
export class ConfigModule {
  /** Validated when the application is created: a bad variable stops the service before it listens. */
  static forService(service: ServiceName): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: APP_CONFIG, useFactory: () => configFor(service) }],
      exports: [APP_CONFIG],
    };
  }

  static forConfig(config: AppConfig): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
    };
  }
}
