import {
  collectDefaultMetrics,
  type Metric,
  type OpenMetricsContentType,
  Registry,
  register,
} from 'prom-client';
import { EVENT_LOOP_METRICS, eventLoopLagMetrics } from './event-loop-lag.js';
import type { Metrics } from './metrics.js';

/** OpenTelemetry's advice for HTTP durations (seconds). */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

let defaultLabels: Record<string, string> = {};
let runtimeMetricsStarted = false;

/**
 * Labels every series of the default registry carries (the lab sets `service`), and Node's runtime
 * metrics (event loop lag, heap, GC, handles), started once per process; `metrics` makes
 * them on the default registry.
 */
export function useProcessMetrics(labels: Record<string, string>, metrics: Metrics): void {
  defaultLabels = { ...labels };
  register.setDefaultLabels(defaultLabels);
  if (runtimeMetricsStarted) return;
  runtimeMetricsStarted = true;
  // prom-client's own event loop metrics sample every `eventLoopMonitoringPrecision` ms, and report the
  // time between samples (at rest, its resolution): they are replaced by eventLoopLagMetrics(). Its
  // sampler is made harmless (once in 24 days) as it cannot be left out.
  collectDefaultMetrics({ eventLoopMonitoringPrecision: 2 ** 31 - 1 });
  for (const name of EVENT_LOOP_METRICS) register.removeSingleMetric(name);
  eventLoopLagMetrics(metrics);
}

export const PROMETHEUS_TEXT = Registry.PROMETHEUS_CONTENT_TYPE;
export const OPENMETRICS_TEXT = Registry.OPENMETRICS_CONTENT_TYPE;

/**
 * Whether a scraper's `Accept` prefers OpenMetrics, the only format that carries exemplars. Prometheus
 * asks `application/openmetrics-text;version=1.0.0,…;q=0.75,text/plain;version=0.0.4;q=0.5,*\/*;q=0.1`.
 */
export function prefersOpenMetrics(accept: string | undefined): boolean {
  if (!accept) return false;
  let openMetrics = 0;
  let text = 0;
  for (const range of accept.split(',')) {
    const [type = '', ...parameters] = range.split(';').map((part) => part.trim().toLowerCase());
    const q = Number(parameters.find((p) => p.startsWith('q='))?.slice(2) ?? '1');
    const quality = Number.isFinite(q) ? q : 0;
    const version = parameters.find((p) => p.startsWith('version='))?.slice(8);
    if (type === 'application/openmetrics-text' && (version === undefined || version === '1.0.0'))
      openMetrics = Math.max(openMetrics, quality);
    else if (type === 'text/plain') text = Math.max(text, quality);
  }
  return openMetrics > 0 && openMetrics >= text;
}

/** The default registry in the format the scraper asked for. */
export async function renderMetrics(
  accept: string | undefined,
): Promise<{ contentType: string; body: string }> {
  if (!prefersOpenMetrics(accept)) return { contentType: PROMETHEUS_TEXT, body: await register.metrics() };
  // A registry of our own per scrape: switching the default one with `setContentType` would change the
  // answer of concurrent text scrapes.
  const registry = new Registry<OpenMetricsContentType>();
  registry.setContentType(OPENMETRICS_TEXT);
  registry.setDefaultLabels(defaultLabels);
  for (const { name, help, type } of register.getMetricsAsArray()) {
    const metric = register.getSingleMetric(name);
    if (metric) registry.registerMetric(openMetricsView(metric, { name, help, type }));
  }
  return { contentType: OPENMETRICS_TEXT, body: await registry.metrics() };
}

/**
 * prom-client renders an OpenMetrics counter by renaming the registered object in place (`x_total` →
 * `x`, samples `x_total`), which would stick and drop the suffix from every later text scrape. So the
 * OpenMetrics registry gets a view with its own name that reads the real metric's values.
 */
function openMetricsView(metric: Metric, about: { name: string; help: string; type: unknown }): Metric {
  const view = {
    ...about,
    async get() {
      return { ...(await metric.get()), name: view.name };
    },
  };
  return view as unknown as Metric;
}
