import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Gauge } from 'prom-client';
import type { Metrics } from './metrics.js';

/**
 * How often the event loop delay is sampled. Each sample is a timer that wakes the process: prom-client's
 * 10 ms were 100 wake-ups a second per idle service, most of the lab's idle CPU (docs/performance.md).
 * A delay is measured to within this much: a loop blocked 300 ms reads 200-300 ms, above the 200 ms of
 * the `EventLoopLag` alert.
 */
export const EVENT_LOOP_RESOLUTION_MS = 100;

const EVENT_LOOP_LAG = 'nodejs_eventloop_lag_seconds';
const EVENT_LOOP_STATISTICS = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'] as const;
export const EVENT_LOOP_METRICS = [
  EVENT_LOOP_LAG,
  ...EVENT_LOOP_STATISTICS.map((statistic) => `nodejs_eventloop_lag_${statistic}_seconds`),
];

/**
 * prom-client's event loop metrics, same names and meaning, sampled every
 * {@link EVENT_LOOP_RESOLUTION_MS}: `nodejs_eventloop_lag_seconds` (how late a `setImmediate` ran,
 * measured at the previous scrape, as prom-client does) and the statistics of how late the sampling
 * timer fired since the last scrape. Node's histogram records the time between two samples, so the
 * resolution is taken off: an idle loop reads about 0, not the resolution.
 */
export function eventLoopLagMetrics(metrics: Metrics): void {
  const histogram = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
  histogram.enable();
  const resolutionNs = EVENT_LOOP_RESOLUTION_MS * 1e6;
  const lateBy = (ns: number) => Math.max(0, ns - resolutionNs) / 1e9;
  const statistic: Record<(typeof EVENT_LOOP_STATISTICS)[number], () => number> = {
    min: () => lateBy(histogram.min),
    max: () => lateBy(histogram.max),
    mean: () => lateBy(histogram.mean),
    stddev: () => histogram.stddev / 1e9,
    p50: () => lateBy(histogram.percentile(50)),
    p90: () => lateBy(histogram.percentile(90)),
    p99: () => lateBy(histogram.percentile(99)),
  };
  const setImmediateLag = (gauge: Gauge, start: bigint) =>
    gauge.set(Number(process.hrtime.bigint() - start) / 1e9);
  // Made first: a scrape reads the metrics in the order they were made, and this one's collect sets the
  // others (like prom-client's). With no sample since the last scrape (two scrapes within the resolution)
  // they keep their values.
  metrics.gauge({
    name: EVENT_LOOP_LAG,
    help: 'Lag of event loop in seconds.',
    collect(gauge) {
      setImmediate(setImmediateLag, gauge, process.hrtime.bigint());
      if (histogram.count === 0) return;
      for (const { read, gauge: statisticGauge } of statistics) statisticGauge.set(read());
      histogram.reset();
    },
  });
  const statistics = EVENT_LOOP_STATISTICS.map((name) => ({
    read: statistic[name],
    gauge: metrics.gauge({
      name: `nodejs_eventloop_lag_${name}_seconds`,
      help: `The ${name} of the event loop delay since the last scrape, in seconds.`,
    }),
  }));
}
