/** Thrown by {@link FairQueue.run} when the queue is full: the work was not started. */
export class QueueFull extends Error {
  override readonly name = 'QueueFull';
}

interface Job {
  readonly start: () => void;
  readonly timer: NodeJS.Timeout | undefined;
}

export interface FairQueueOptions {
  /** A job still waiting after this long is refused ({@link QueueFull}): its caller would have given up. */
  readonly maxWaitMs?: number;
  /**
   * A job not done this long after {@link FairQueue.run} was called is answered {@link QueueFull} too
   * (its caller gets an answer in time on a machine that has become very slow); the work itself goes on
   * and holds its slot until it really ends, so the queue never runs more than its concurrency.
   */
  readonly maxTotalMs?: number;
  /** Called with the number of waiting jobs whenever it changes. */
  readonly onDepthChange?: (queued: number) => void;
}

export interface RunOptions {
  /**
   * Never refused: waits for a slot however full the queue and however long that takes (past
   * `maxQueued`, the key's share, `maxWaitMs` and `maxTotalMs`), and still runs at most `concurrency`
   * at once with the others. For the owner's own work (seeding at start-up), never for a client's.
   */
  readonly unbounded?: boolean;
}

/**
 * Runs at most `concurrency` jobs at once; up to `maxQueued` more wait, beyond that a job is refused at
 * once ({@link QueueFull}), and so is one that waited `maxWaitMs` or is not done after `maxTotalMs`
 * (however slow the jobs have become, nobody waits longer than its caller would). Waiting jobs are taken
 * round-robin by key (the client address), and one key holds at most half of the queue, so one
 * client's burst neither fills the queue nor puts everyone else behind it.
 */
export class FairQueue {
  private running = 0;
  private queued = 0;
  /** Waiting jobs per key; a Map iterates in insertion order, so re-inserting a key sends it to the back. */
  private readonly waiting = new Map<string, Job[]>();
  private readonly maxPerKey: number;

  private readonly onDepthChange: (queued: number) => void;

  constructor(
    readonly concurrency: number,
    readonly maxQueued: number,
    private readonly options: FairQueueOptions = {},
  ) {
    this.maxPerKey = Math.max(1, Math.ceil(maxQueued / 2));
    this.onDepthChange = options.onDepthChange ?? (() => undefined);
  }

  /** Jobs waiting (not running). */
  get depth(): number {
    return this.queued;
  }

  run<T>(key: string, work: () => Promise<T>, { unbounded = false }: RunOptions = {}): Promise<T> {
    const result = this.enqueue(key, work, unbounded);
    const { maxTotalMs } = this.options;
    if (maxTotalMs === undefined || unbounded) return result;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new QueueFull(`not done within ${maxTotalMs} ms`)),
        maxTotalMs,
      ).unref();
      result.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  private enqueue<T>(key: string, work: () => Promise<T>, unbounded: boolean): Promise<T> {
    if (this.running < this.concurrency && this.queued === 0) return this.start(work);
    const own = this.waiting.get(key);
    if (!unbounded && (this.queued >= this.maxQueued || (own?.length ?? 0) >= this.maxPerKey)) {
      return Promise.reject(new QueueFull(`${this.queued} waiting, ${this.running} running`));
    }
    return new Promise<T>((resolve, reject) => {
      const maxWaitMs = unbounded ? undefined : this.options.maxWaitMs;
      const job: Job = {
        start: () => {
          clearTimeout(job.timer);
          void this.start(work).then(resolve, reject);
        },
        timer:
          maxWaitMs === undefined
            ? undefined
            : setTimeout(() => {
                this.remove(key, job);
                reject(new QueueFull(`waited ${maxWaitMs} ms without a free thread`));
              }, maxWaitMs).unref(),
      };
      if (own) own.push(job);
      else this.waiting.set(key, [job]);
      this.queued++;
      this.onDepthChange(this.queued);
    });
  }

  private remove(key: string, job: Job): void {
    const jobs = this.waiting.get(key);
    const index = jobs?.indexOf(job) ?? -1;
    if (!jobs || index < 0) return;
    jobs.splice(index, 1);
    if (jobs.length === 0) this.waiting.delete(key);
    this.queued--;
    this.onDepthChange(this.queued);
  }

  private async start<T>(work: () => Promise<T>): Promise<T> {
    this.running++;
    try {
      return await work();
    } finally {
      this.running--;
      this.next();
    }
  }

  private next(): void {
    const first = this.waiting.entries().next();
    if (first.done) return;
    const [key, jobs] = first.value;
    const job = jobs.shift();
    // Round-robin: this key goes to the back of the line (or leaves it when it has nothing left).
    this.waiting.delete(key);
    if (jobs.length > 0) this.waiting.set(key, jobs);
    if (!job) return;
    this.queued--;
    this.onDepthChange(this.queued);
    job.start();
  }
}
