import { type DynamicModule, Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { FaultsModule } from '#lab/faults';
import { type LabLogger, LoggingModule } from '#lab/logging';
import { TelemetryModule } from '#lab/telemetry';

/**
 * Logs, traces, metrics and the fault switch of a service, imported by every `AppModule`:
 *
 * - `LoggingModule`: the service's `LabLogger` (JSON on stdout, Fluentd), access records;
 * - `TelemetryModule`: `GET /metrics`, the injected `Metrics` provider, nestjs-otel's `TraceService`
 *   (for `@Span` business spans' attributes), HTTP server and handler spans, HTTP duration histograms;
 * - `FaultsModule`: `/admin/faults`, the injected `FaultState` and `FaultInjection`.
 *
 * Global, like the logging module it carries: the HTTP client and readiness of any feature module
 * inject `FaultInjection` and `Metrics`. The request hooks are added by {@link ObservabilityModule.setup}.
 */
@Module({})
export class ObservabilityModule {
  /** `logger`: the service's logger when given (tests that read the lines), else one made from the configuration. */
  static forRoot(options: { logger?: LabLogger } = {}): DynamicModule {
    return {
      module: ObservabilityModule,
      global: true,
      imports: [LoggingModule.forRoot(options.logger), TelemetryModule, FaultsModule],
      exports: [LoggingModule, TelemetryModule, FaultsModule],
    };
  }

  /**
   * Wires the application's requests, once it is created and before it listens (the bootstrap lib's
   * `createService()` calls it): handler spans, then the Fastify hooks in the order they must run,
   * whatever the order of the imports: the server span (`onRequest`), the request context of the logs
   * (`onRequest`, reads the server span's ids) and the access record, then injected latency and errors
   * (`preHandler`, after every `onRequest` hook, so spans, metrics and access records see them).
   */
  static setup(app: NestFastifyApplication): void {
    TelemetryModule.setup(app);
    LoggingModule.setup(app);
    FaultsModule.setup(app);
  }
}
