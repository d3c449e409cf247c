/**
 * Capped exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
 * Jitter"): a delay drawn uniformly from [0, min(maxMs, baseMs · 2^retry)], `retry` counting from 0
 * for the first retry. Spreads the retries of many callers instead of synchronising them.
 */
export function fullJitterDelay(
  retry: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  return random() * Math.min(maxMs, baseMs * 2 ** retry);
}
