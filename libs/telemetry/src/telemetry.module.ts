import { Global, Inject, Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DiscoveryModule } from '@nestjs/core';
import { trace } from '@opentelemetry/api';
import { TraceService } from 'nestjs-otel';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import { HandlerSpans } from './handler-spans.js';
import { HttpClientMetrics } from './http-client-metrics.js';
import { HttpServerTelemetry } from './http-server-telemetry.js';
import { MetricsController } from './metrics.controller.js';
import { Metrics } from './metrics.js';
import { useProcessMetrics } from './prometheus.js';
import { LAB_TRACER, TRACER_NAME } from './spans.js';

/**
 * Traces and metrics of a service: `GET /metrics` (Prometheus text or OpenMetrics), the injected
 * {@link Metrics} provider every metric is made with, nestjs-otel's `TraceService`, HTTP server and client duration histograms with
 * exemplars, Node runtime metrics, every series labelled with the service. The server span per request
 * and the span per controller handler are switched on by {@link TelemetryModule.setup}. Spans leave the
 * process only when the preload (`register.js`) started the OpenTelemetry SDK with an exporter. Needs the
 * config module (`APP_CONFIG`).
 */
// Global, as nestjs-otel's module was: any feature module may inject `TraceService` and `Metrics` once the
// root imports this (ObservabilityModule does, and the feature modules' testing modules).
@Global()
@Module({
  // Of nestjs-otel only `TraceService` (and `@Span`, which needs no module) on the preloaded SDK's tracer
  // provider. Not its `OpenTelemetryModule`: that adds a `WideEventMiddleware` to every route of every
  // service (Nest's middleware chain on each request, ~5 % of a service's CPU) for wide events nothing
  // here reads, and its metrics stay off anyway: `/metrics` is prom-client's, which carries exemplars.
  imports: [DiscoveryModule],
  controllers: [MetricsController],
  providers: [
    Metrics,
    TraceService,
    { provide: LAB_TRACER, useFactory: () => trace.getTracer(TRACER_NAME) },
    HandlerSpans,
    HttpServerTelemetry,
    HttpClientMetrics,
  ],
  exports: [TraceService, Metrics, HandlerSpans, HttpServerTelemetry],
})
export class TelemetryModule {
  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    useProcessMetrics({ service: config.service }, new Metrics());
  }

  /**
   * Wraps the controllers' handlers in spans and adds the HTTP server span and duration hooks to the
   * application's Fastify instance. Call it after the application is created and before it listens
   * (`ObservabilityModule.setup()` does, before the logging lib's hooks, which read the server span).
   */
  static setup(app: NestFastifyApplication): void {
    app.get(HandlerSpans).wrapControllers();
    app.get(HttpServerTelemetry).install(app.getHttpAdapter().getInstance());
  }
}
