import { describe, expect, it } from 'vitest';
import { RetryBudget } from './retry-budget.js';

describe(RetryBudget.name, () => {
  const t0 = 1_700_000_000_000;

  it('allows the floor of retries even without traffic, then refuses', () => {
    const budget = new RetryBudget(0.2, 3);
    expect([1, 2, 3, 4].map(() => budget.tryRetry(t0))).toEqual([true, true, true, false]);
  });

  it('allows retries up to the ratio of the requests in the window', () => {
    const budget = new RetryBudget(0.2, 0);
    for (let i = 0; i < 100; i++) budget.recordRequest(t0 + i * 10);
    let granted = 0;
    while (budget.tryRetry(t0 + 1500)) granted++;
    expect(granted).toBe(20);
  });

  it('forgets requests and retries older than 10 s (rolling window)', () => {
    const budget = new RetryBudget(0.5, 0);
    for (let i = 0; i < 10; i++) budget.recordRequest(t0);
    let granted = 0;
    while (budget.tryRetry(t0 + 500)) granted++;
    expect(granted).toBe(5);
    expect(budget.tryRetry(t0 + 9_000)).toBe(false); // same window still
    expect(budget.tryRetry(t0 + 10_500)).toBe(false); // requests gone with the window: nothing to retry on
    for (let i = 0; i < 10; i++) budget.recordRequest(t0 + 11_000);
    expect(budget.tryRetry(t0 + 11_000)).toBe(true); // the old retries are gone too
  });
});
