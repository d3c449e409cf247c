import { Logger } from '@nestjs/common';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UpstreamBreaker } from './circuit-breaker.js';
import { UpstreamUnavailableError } from './errors.js';

const options = { failureRatio: 0.5, minRequests: 4, windowMs: 10_000, halfOpenAfterMs: 2000 };
const logger = { warn: () => {}, log: () => {} } as unknown as Logger;
const down = () => Promise.reject(new UpstreamUnavailableError('product', 'unreachable', 'ECONNREFUSED'));

describe(UpstreamBreaker.name, () => {
  afterEach(() => vi.useRealTimers());

  it('opens on the failure ratio once the minimum volume is reached, then fails fast without calling', async () => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    let rejected = 0;
    const breaker = new UpstreamBreaker('product', options, logger, () => rejected++);
    for (let i = 0; i < 3; i++)
      await expect(breaker.execute(down)).rejects.toMatchObject({ reason: 'unreachable' });
    expect(breaker.stateName()).toBe('closed'); // 3 calls: under the minimum volume
    await expect(breaker.execute(down)).rejects.toMatchObject({ reason: 'unreachable' });
    expect(breaker.stateName()).toBe('open');
    const call = vi.fn(() => Promise.resolve({ status: 200 }));
    await expect(breaker.execute(call)).rejects.toMatchObject({
      reason: 'circuit_open',
      failure: 'CIRCUIT_OPEN',
      code: 'circuit_open',
      retryAfterSeconds: 2,
    });
    expect(call).not.toHaveBeenCalled();
    expect(rejected).toBe(1);
  });

  it('counts 5xx answers as failures and 4xx ones as successes', async () => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    const breaker = new UpstreamBreaker('order', options, logger, () => {});
    for (let i = 0; i < 10; i++) await breaker.execute(() => Promise.resolve({ status: 404 }));
    expect(breaker.stateName()).toBe('closed');
    for (let i = 0; i < 11; i++) await breaker.execute(() => Promise.resolve({ status: 503 }));
    expect(breaker.stateName()).toBe('open');
  });

  it('lets one trial through after halfOpenAfter, failing the others fast meanwhile, and closes on its success', async () => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    const breaker = new UpstreamBreaker('product', options, logger, () => {});
    for (let i = 0; i < 4; i++) await breaker.execute(down).catch(() => {});
    vi.advanceTimersByTime(1000);
    expect(breaker.retryAfterSeconds()).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(breaker.stateName()).toBe('half_open');
    let finish: (value: { status: number }) => void = () => {};
    const trial = breaker.execute(() => new Promise<{ status: number }>((resolve) => (finish = resolve)));
    await expect(breaker.execute(() => Promise.resolve({ status: 200 }))).rejects.toMatchObject({
      reason: 'circuit_open',
    });
    finish({ status: 200 });
    await expect(trial).resolves.toEqual({ status: 200 });
    expect(breaker.stateName()).toBe('closed');
  });

  it('opens again when the trial fails', async () => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    const breaker = new UpstreamBreaker('product', options, logger, () => {});
    for (let i = 0; i < 4; i++) await breaker.execute(down).catch(() => {});
    vi.advanceTimersByTime(2000);
    await expect(breaker.execute(down)).rejects.toMatchObject({ reason: 'unreachable' });
    expect(breaker.stateName()).toBe('open');
    expect(breaker.retryAfterSeconds()).toBe(2);
  });
});
