import { requireLazyDependency } from './lazy-dependencies.js';

/**
 * What nestjs-otel's core module gets for `@opentelemetry/host-metrics` (see lazy-dependencies.ts): an
 * object whose `HostMetrics` and `BaseMetrics` are the real module's classes, the module (and with it
 * `systeminformation`) required when one is first read. nestjs-otel reads `HostMetrics` only for an
 * `OpenTelemetryModule` configured with `metrics: { hostMetrics: true }`, which the lab never creates.
 */
const hostMetrics: Record<string, unknown> = {};
for (const name of ['BaseMetrics', 'HostMetrics']) {
  Object.defineProperty(hostMetrics, name, {
    enumerable: true,
    get: () => (requireLazyDependency('@opentelemetry/host-metrics') as Record<string, unknown>)[name],
  });
}

// `require()` of this module returns `hostMetrics` itself (the export named 'module.exports'), not a
// namespace whose bindings would be read when it loads.
export { hostMetrics as 'module.exports' };
