import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { EVENT_LOOP_METRICS, EVENT_LOOP_RESOLUTION_MS, eventLoopLagMetrics } from './event-loop-lag.js';
import { Metrics } from './metrics.js';

const samplerFires = () => new Promise((resolve) => setTimeout(resolve, 3 * EVENT_LOOP_RESOLUTION_MS));

describe(eventLoopLagMetrics.name, () => {
  const registry = new Registry();
  eventLoopLagMetrics(new Metrics(registry));
  const scrape = async () => {
    const text = await registry.metrics();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    return { text, value };
  };

  it("serves prom-client's event loop metrics under their names", async () => {
    await samplerFires();
    const { text } = await scrape();
    for (const name of EVENT_LOOP_METRICS) expect(text).toMatch(new RegExp(`^${name} \\d`, 'm'));
  });

  it('reads how late the sampler fired, not the time between samples: an idle loop reads below the resolution', async () => {
    await scrape();
    await samplerFires();
    const { value } = await scrape();
    expect(value('nodejs_eventloop_lag_min_seconds')).toBeLessThan(EVENT_LOOP_RESOLUTION_MS / 1000);
  });

  const block = (ms: number) => {
    const until = Date.now() + ms;
    while (Date.now() < until);
  };

  it('reads a blocked loop as lag of at least the block minus the resolution, also just after a scrape', async () => {
    await samplerFires();
    await scrape();
    block(300); // before the sampler fired again: a sampler that forgot its last sample at the scrape misses it
    await samplerFires();
    const { value } = await scrape();
    expect(value('nodejs_eventloop_lag_max_seconds')).toBeGreaterThanOrEqual(
      0.3 - EVENT_LOOP_RESOLUTION_MS / 1000,
    );
  });

  it('reads a loop blocked in the same turn as the scrape, before the sampler could fire', async () => {
    await samplerFires();
    await scrape();
    await samplerFires();
    block(500);
    const { value } = await scrape();
    expect(value('nodejs_eventloop_lag_max_seconds')).toBeGreaterThanOrEqual(
      0.5 - EVENT_LOOP_RESOLUTION_MS / 1000,
    );
    // Taken once: read again, the block would be 0.4 s or more. The next sample a whole resolution after
    // the scrape's: an early one, a fraction of it, spreads three samples to a stddev of ~0.045 s against
    // ~0.002 (the bounds leave room for a stall of a loaded machine).
    await samplerFires();
    const next = await scrape();
    expect(next.value('nodejs_eventloop_lag_max_seconds')).toBeLessThan(0.3);
    expect(next.value('nodejs_eventloop_lag_stddev_seconds')).toBeLessThan(0.035);
  });
});
