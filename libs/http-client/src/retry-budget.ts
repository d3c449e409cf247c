const BUCKETS = 10;
const BUCKET_MS = 1000;

/** The rolling window of a {@link RetryBudget}: 10 buckets of one second. */
export const RETRY_BUDGET_WINDOW_MS = BUCKETS * BUCKET_MS;

/**
 * A retry budget for one upstream (as in Finagle and Envoy): retries may add at most `ratio` of the
 * requests made over the last 10 s, or `minRetries` per 10 s, whichever is more, so retries cannot
 * multiply the load on an upstream that is already failing. Ring of per-second counters: recording is
 * O(1) without allocation, a decision sums 10 buckets.
 */
export class RetryBudget {
  private readonly epochs = new Float64Array(BUCKETS).fill(-1);
  private readonly requests = new Uint32Array(BUCKETS);
  private readonly retries = new Uint32Array(BUCKETS);

  constructor(
    private readonly ratio: number,
    private readonly minRetries: number,
  ) {}

  /** A first attempt (not a retry). */
  recordRequest(now = Date.now()): void {
    this.requests[this.bucket(now)]++;
  }

  /** Takes one retry from the budget when there is one left; false means: do not retry. */
  tryRetry(now = Date.now()): boolean {
    const current = Math.floor(now / BUCKET_MS);
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < BUCKETS; i++) {
      if (this.epochs[i] > current - BUCKETS) {
        requests += this.requests[i];
        retries += this.retries[i];
      }
    }
    if (retries >= Math.max(this.minRetries, this.ratio * requests)) return false;
    this.retries[this.bucket(now)]++;
    return true;
  }

  private bucket(now: number): number {
    const epoch = Math.floor(now / BUCKET_MS);
    const index = epoch % BUCKETS;
    if (this.epochs[index] !== epoch) {
      this.epochs[index] = epoch;
      this.requests[index] = 0;
      this.retries[index] = 0;
    }
    return index;
  }
}
