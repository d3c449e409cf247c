export { ClientCall, type ClientCallStart } from './client-calls.js';
export { HTTP_CLIENT_DURATION, httpClientDuration } from './http-client-metrics.js';
export { HTTP_SERVER_DURATION } from './http-server-telemetry.js';
export { type GaugeSpec, type KnownLabels, type MetricSpec, Metrics, METRICS_REGISTRY } from './metrics.js';
export { OPENMETRICS_TEXT, PROMETHEUS_TEXT, renderMetrics } from './prometheus.js';
export { shutdownTelemetry } from './shutdown.js';
export { currentTraceContext, TRACER_NAME } from './spans.js';
export { TelemetryModule } from './telemetry.module.js';
