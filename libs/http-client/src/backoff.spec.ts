import { describe, expect, it } from 'vitest';
import { fullJitterDelay } from './backoff.js';

describe(fullJitterDelay.name, () => {
  it('draws from [0, base·2^retry]: 0 and the bound at the ends of the random range', () => {
    expect(fullJitterDelay(0, 50, 1000, () => 0)).toBe(0);
    expect(fullJitterDelay(0, 50, 1000, () => 1)).toBe(50);
    expect(fullJitterDelay(1, 50, 1000, () => 1)).toBe(100);
    expect(fullJitterDelay(3, 50, 1000, () => 0.5)).toBe(200);
  });

  it('never exceeds the cap, however many retries', () => {
    expect(fullJitterDelay(5, 50, 1000, () => 1)).toBe(1000);
    expect(fullJitterDelay(60, 50, 1000, () => 0.999)).toBeLessThan(1000);
  });

  it('spreads delays over the whole range (full jitter), not around a point', () => {
    const delays = Array.from({ length: 2000 }, () => fullJitterDelay(2, 50, 1000));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(200);
    expect(delays.filter((d) => d < 50).length).toBeGreaterThan(300); // ~25% expected in the first quarter
    expect(delays.filter((d) => d > 150).length).toBeGreaterThan(300);
  });
});
