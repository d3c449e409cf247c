import { describe, expect, it } from 'vitest';
import { classify } from './lab-api.js';
import { runOpenLoop } from './open-loop.js';
import { DEFAULT_WEIGHTS, OptionsError, parseOptions } from './options.js';
import { LatencyHistogram, Stats, summary } from './stats.js';

describe('traffic options', () => {
  it('takes flags over TRAFFIC_* variables over defaults', () => {
    const options = parseOptions(['--rate', '20', '--users=3', '--base-url', 'http://127.0.0.1:3000/'], {
      TRAFFIC_RATE: '7',
      TRAFFIC_DURATION: '30',
      TRAFFIC_WEIGHTS: 'browse=1,cancel=0',
    });
    expect(options).toMatchObject({
      rate: 20,
      users: 3,
      durationSeconds: 30,
      baseUrl: 'http://127.0.0.1:3000',
      weights: { ...DEFAULT_WEIGHTS, browse: 1, cancel: 0 },
    });
    expect(parseOptions([], {})).toMatchObject({
      rate: 5,
      durationSeconds: 0,
      baseUrl: 'http://localhost:3000',
    });
    expect(parseOptions(['--help'], {})).toBeUndefined();
  });

  it('names the flag or variable of a bad value', () => {
    expect(() => parseOptions(['--rate', 'fast'], {})).toThrow(/--rate must be a number/);
    expect(() => parseOptions([], { TRAFFIC_USERS: '1.5' })).toThrow(/TRAFFIC_USERS must be an integer/);
    expect(() => parseOptions(['--base-url', 'ftp://x'], {})).toThrow(/--base-url must be an http\(s\) URL/);
    expect(() => parseOptions(['--weights', 'buy=3'], {})).toThrow(OptionsError);
    expect(() => parseOptions(['--nope'], {})).toThrow(/unknown option --nope/);
    expect(() => parseOptions(['--duration='], {})).toThrow(/--duration must be a number .* \(got ""\)/);
  });
});

describe('traffic statistics', () => {
  it('gives percentiles within 2% from bounded buckets', () => {
    const histogram = new LatencyHistogram();
    for (let ms = 1; ms <= 1000; ms++) histogram.record(ms);
    expect(histogram.percentile(50)).toBeGreaterThanOrEqual(500);
    expect(histogram.percentile(50)).toBeLessThanOrEqual(510);
    expect(histogram.percentile(99)).toBeGreaterThanOrEqual(990);
    expect(histogram.percentile(100)).toBe(1000);
  });

  it('counts expected answers and 429s apart from errors', () => {
    const expectOutOfStock = (status: number, code?: string) => status === 409 && code === 'out_of_stock';
    expect(classify(201, undefined, expectOutOfStock)).toBe('ok');
    expect(classify(409, 'out_of_stock', expectOutOfStock)).toBe('expected');
    expect(classify(409, 'idempotency_in_progress', expectOutOfStock)).toBe('error');
    expect(classify(429, undefined)).toBe('rate_limited');
    expect(classify(503, 'circuit_open')).toBe('error');
    const stats = new Stats();
    stats.phase = 'mix';
    stats.recordRequest('200', 'ok', 10);
    stats.recordRequest('503 circuit_open', 'error', 1);
    stats.recordTask('order', 'error', 12);
    const text = summary(stats, 1000);
    expect(text).toMatch(/errors 1/);
    expect(text).toMatch(/503 circuit_open\s+1\s+error/);
    expect(text).toMatch(/task order\s+1\s/);
  });
});

describe('open-loop schedule', () => {
  it('keeps the rate while work is slow, and skips beyond the in-flight cap', async () => {
    let started = 0;
    let skipped = 0;
    await runOpenLoop({
      rate: 100,
      durationMs: 300,
      maxInFlight: 10,
      signal: new AbortController().signal,
      start: async () => {
        started++;
        await new Promise((resolve) => setTimeout(resolve, 200)); // slower than the 10 ms schedule
      },
      onSkip: () => skipped++,
    });
    expect(started + skipped).toBeGreaterThanOrEqual(20); // 31 due; fewer only if timers run very late
    expect(started + skipped).toBeLessThanOrEqual(31);
    expect(started).toBeLessThanOrEqual(20); // at most 10 in flight, each 200 ms, over 300 ms
    expect(skipped).toBeGreaterThan(0);
  });

  it('stops when the signal aborts and waits for the work in flight', async () => {
    const stop = new AbortController();
    let finished = 0;
    setTimeout(() => stop.abort(), 100);
    await runOpenLoop({
      rate: 50,
      durationMs: 0,
      maxInFlight: 100,
      signal: stop.signal,
      start: async () => {
        await new Promise((resolve) => setTimeout(resolve, 50));
        finished++;
      },
      onSkip: () => undefined,
    });
    expect(finished).toBeGreaterThanOrEqual(3);
    expect(finished).toBeLessThanOrEqual(20);
  });
});
