import { Inject, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import { HandlerSpans } from './handler-spans.js';
import { HttpClientMetrics } from './http-client-metrics.js';
import { HttpServerTelemetry } from './http-server-telemetry.js';
import { MetricsController } from './metrics.controller.js';
import { useProcessMetrics } from './prometheus.js';

/**
 * Traces and metrics of a service: an HTTP server span per request and a span per controller handler,
 * `GET /metrics` (Prometheus text or OpenMetrics), HTTP server and client duration histograms with
 * exemplars, Node runtime metrics, every series labelled with the service. Spans leave the process
 * only when the preload (`register.js`) started the OpenTelemetry SDK with an exporter. Needs the
 * config module (`APP_CONFIG`).
 */
@Module({
  imports: [DiscoveryModule],
  controllers: [MetricsController],
  providers: [HandlerSpans, HttpServerTelemetry, HttpClientMetrics],
})
export class TelemetryModule {
  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    useProcessMetrics({ service: config.service });
  }
}
