import { type DynamicModule, Global, Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { LabLogger } from './lab-logger.js';
import { installRequestLogging } from './request-logging.js';

@Injectable()
class RequestLoggingInstaller implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly logger: LabLogger,
  ) {}

  onModuleInit(): void {
    const instance: unknown = this.adapterHost.httpAdapter?.getInstance();
    if (isFastify(instance)) installRequestLogging(instance, this.logger);
  }
}

@Global()
@Module({})
export class LoggingModule {
  /**
   * Provides `logger` (inject it as `LabLogger`) and, on Fastify, the request context of every log
   * line (`request_id`, trace ids) and one access record per request.
   */
  static forRoot(logger: LabLogger): DynamicModule {
    return {
      module: LoggingModule,
      global: true,
      providers: [{ provide: LabLogger, useValue: logger }, RequestLoggingInstaller],
      exports: [LabLogger],
    };
  }
}

function isFastify(instance: unknown): instance is FastifyInstance {
  return (
    typeof instance === 'object' &&
    instance !== null &&
    typeof Reflect.get(instance, 'addHook') === 'function'
  );
}
