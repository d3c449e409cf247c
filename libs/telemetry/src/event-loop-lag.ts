import { createHistogram } from 'node:perf_hooks';
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
 * timer fired since the last scrape. Each sample is the time since the previous one, so the resolution
 * is taken off: an idle loop reads about 0, not the resolution.
 *
 * The sampler is a timer of its own rather than `monitorEventLoopDelay`: that one's reset at each
 * scrape forgets its previous sample, so the first interval after a scrape was never measured, and a
 * loop blocked then (a request just after the scrape) read as idle. A scrape also takes the time since
 * the last sample when it is past the resolution: a loop blocked in the same turn as the scrape, before
 * the timer could fire, is read by that scrape.
 */
export function eventLoopLagMetrics(metrics: Metrics): void {
  const histogram = createHistogram();
  const resolutionNs = EVENT_LOOP_RESOLUTION_MS * 1e6;
  let previous = process.hrtime.bigint();
  const sample = (now: bigint) => {
    histogram.record(now - previous > 0n ? now - previous : 1n);
    previous = now;
  };
  const sampler = setInterval(() => sample(process.hrtime.bigint()), EVENT_LOOP_RESOLUTION_MS).unref();
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
      const now = process.hrtime.bigint();
      setImmediate(setImmediateLag, gauge, now);
      if (Number(now - previous) > resolutionNs) {
        sample(now);
        // The next sample a whole resolution after this one, not a fraction of it (which would read as
        // early and pull the mean and stddev off).
        sampler.refresh();
      }
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
