import { CircuitState, type IBreaker } from 'cockatiel';

interface Bucket {
  startedAt: number;
  failures: number;
  successes: number;
}

export interface SlidingWindowOptions {
  /** Opens when more than this share of the calls in the window failed. */
  readonly threshold: number;
  readonly windowMs: number;
  /** Calls the window must hold before it may open. */
  readonly minimumCalls: number;
}

/**
 * The failure ratio over the last `windowMs`, in one-second buckets (at least five). It replaces
 * cockatiel's SamplingBreaker, which moves on by one bucket per call: after a quiet spell the calls of
 * long ago still weighed for up to a window's worth of new calls, so old successes kept a failing
 * upstream's breaker closed and old failures could open a healthy one's. Here a bucket older than the
 * window is gone whatever happened since.
 */
export class SlidingWindowBreaker implements IBreaker {
  private buckets: Bucket[] = [];
  private readonly bucketMs: number;

  constructor(
    private readonly options: SlidingWindowOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.bucketMs = Math.min(1000, Math.max(1, Math.floor(options.windowMs / 5)));
  }

  get state(): unknown {
    return { buckets: this.buckets.map((bucket) => ({ ...bucket })) };
  }

  set state(value: unknown) {
    this.buckets = ((value as { buckets?: Bucket[] }).buckets ?? []).map((bucket) => ({ ...bucket }));
  }

  success(state: CircuitState): void {
    if (state === CircuitState.HalfOpen) this.buckets = [];
    this.record(true);
  }

  failure(state: CircuitState): boolean {
    this.record(false);
    if (state !== CircuitState.Closed) return true;
    let failures = 0;
    let total = 0;
    for (const bucket of this.buckets) {
      failures += bucket.failures;
      total += bucket.failures + bucket.successes;
    }
    return total >= this.options.minimumCalls && failures > this.options.threshold * total;
  }

  private record(success: boolean): void {
    const now = this.now();
    const start = now - (now % this.bucketMs);
    // Buckets are in time order: a new array only when the oldest has left the window (not per call), or
    // while the first is ahead of now (the wall clock stepped back): then, as before, every call drops what
    // is older than the window behind it.
    const first = this.buckets[0];
    if (first !== undefined && (first.startedAt <= start - this.options.windowMs || first.startedAt > start))
      this.buckets = this.buckets.filter((bucket) => bucket.startedAt > start - this.options.windowMs);
    let current = this.buckets.at(-1);
    if (current?.startedAt !== start) {
      current = { startedAt: start, failures: 0, successes: 0 };
      this.buckets.push(current);
    }
    if (success) current.successes++;
    else current.failures++;
  }
}
