import { CircuitState, SamplingBreaker } from 'cockatiel';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SlidingWindowBreaker } from './sliding-window-breaker.js';

const options = { threshold: 0.5, windowMs: 10_000, minimumCalls: 10 };
const closed = CircuitState.Closed;

describe(SlidingWindowBreaker.name, () => {
  let now = 1_700_000_000_000;
  const clock = () => now;
  afterEach(() => vi.useRealTimers());

  it('opens above the failure ratio once the window holds the minimum number of calls', () => {
    const breaker = new SlidingWindowBreaker(options, clock);
    for (let i = 0; i < 5; i++) breaker.success(closed);
    for (let i = 0; i < 5; i++) expect(breaker.failure(closed)).toBe(false); // 5 of 10: not above half
    expect(breaker.failure(closed)).toBe(true); // 6 of 11
  });

  it('forgets successes older than the window, however quiet the time since', () => {
    const breaker = new SlidingWindowBreaker(options, clock);
    for (let i = 0; i < 100; i++) breaker.success(closed);
    now += 60_000;
    const opened = Array.from({ length: 10 }, () => breaker.failure(closed));
    expect(opened.indexOf(true)).toBe(9); // the tenth failure: the minimum, all of them failures
  });

  it('forgets failures older than the window, so one new failure does not open a healthy upstream', () => {
    const breaker = new SlidingWindowBreaker(options, clock);
    for (let i = 0; i < 9; i++) breaker.failure(closed);
    now += 60_000;
    expect(breaker.failure(closed)).toBe(false);
  });

  it('keeps what is still inside the window when time moves on', () => {
    const breaker = new SlidingWindowBreaker(options, clock);
    for (let i = 0; i < 9; i++) breaker.failure(closed);
    now += 5_000;
    expect(breaker.failure(closed)).toBe(true); // 10 failures within 10 s
  });

  it('forgets failures older than the window after the wall clock stepped back', () => {
    const breaker = new SlidingWindowBreaker(options, clock);
    breaker.success(closed);
    now -= 100_000; // the clock steps back 100 s (NTP): the bucket above is now ahead of it
    for (let i = 0; i < 9; i++) breaker.failure(closed); // an outage
    now += 30_000; // long past the window: only the calls from here on count
    breaker.success(closed);
    expect(breaker.failure(closed)).toBe(false);
  });

  it('starts from nothing after a successful trial call', () => {
    const breaker = new SlidingWindowBreaker(options, clock);
    for (let i = 0; i < 9; i++) breaker.failure(closed);
    breaker.success(CircuitState.HalfOpen);
    expect(breaker.failure(closed)).toBe(false);
  });

  it("is what cockatiel's SamplingBreaker got wrong: stale successes kept a failing upstream closed", () => {
    vi.useFakeTimers({ now });
    const sampling = new SamplingBreaker({ threshold: 0.5, duration: 10_000, minimumRps: 1 });
    for (let i = 0; i < 100; i++) sampling.success(closed);
    vi.setSystemTime(now + 60_000);
    expect(Array.from({ length: 10 }, () => sampling.failure(closed))).not.toContain(true);
  });
});
