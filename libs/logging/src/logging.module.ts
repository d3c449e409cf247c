import { type DynamicModule, Global, Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import { Metrics, TelemetryModule } from '#lab/telemetry';
import { LabLogger } from './lab-logger.js';
import { installRequestLogging } from './request-logging.js';

/** What a process's logger is made from: a service's `AppConfig`, or the alert-webhook's configuration. */
export type LogSettings = Pick<AppConfig, 'logLevel' | 'fluentd' | 'logBufferMaxRecords'> & {
  readonly service: string;
};

/**
 * The one way a process makes its logger: JSON on stdout, and to Fluentd when `FLUENTD_HOST` is set.
 * (Tests that want the lines construct a {@link LabLogger} with their own `stdout`.)
 */
export function createServiceLogger(config: LogSettings, metrics?: Metrics): LabLogger {
  return new LabLogger({
    service: config.service,
    level: config.logLevel,
    ...(metrics && { metrics }),
    ...(config.fluentd && { fluent: { ...config.fluentd, maxBufferedRecords: config.logBufferMaxRecords } }),
  });
}

@Global()
@Module({})
export class LoggingModule {
  /**
   * Provides the service's logger (inject it as `LabLogger`): `logger` when given, else one made from
   * the configuration (`APP_CONFIG`) by {@link createServiceLogger}.
   */
  static forRoot(logger?: LabLogger): DynamicModule {
    return {
      module: LoggingModule,
      global: true,
      imports: logger ? [] : [TelemetryModule],
      providers: [
        logger
          ? { provide: LabLogger, useValue: logger }
          : {
              provide: LabLogger,
              useFactory: (config: AppConfig, metrics: Metrics) => createServiceLogger(config, metrics),
              inject: [APP_CONFIG, Metrics],
            },
      ],
      exports: [LabLogger],
    };
  }

  /**
   * The request context of every log line (`request_id`, trace ids) and one access record per request:
   * hooks on the application's Fastify instance. Call it after the application is created, after
   * `TelemetryModule.setup()` (the context takes the server span's ids), as `ObservabilityModule.setup()`
   * does.
   */
  static setup(app: NestFastifyApplication): void {
    installRequestLogging(app.getHttpAdapter().getInstance(), app.get(LabLogger));
  }
}
