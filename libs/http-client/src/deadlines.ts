/** A pending deadline: `cancel()` it before it passes and its callback never runs. */
export interface Deadline {
  cancel(): void;
}

class Entry implements Deadline {
  next: Entry | undefined = undefined;
  constructor(
    private readonly lane: Lane,
    readonly at: number,
    public expire: (() => void) | undefined,
  ) {}

  cancel(): void {
    if (this.expire === undefined) return;
    this.expire = undefined;
    this.lane.dropSettled();
  }
}

/**
 * The deadlines of one duration. Added in time order, they pass in that order: a FIFO queue under one
 * timer, armed for its oldest deadline, does what a timer per deadline would.
 */
class Lane {
  private head: Entry | undefined = undefined;
  private tail: Entry | undefined = undefined;
  private timer: NodeJS.Timeout | undefined = undefined;

  constructor(private readonly ms: number) {}

  add(expire: () => void): Deadline {
    const entry = new Entry(this, performance.now() + this.ms, expire);
    if (this.tail) this.tail.next = entry;
    else this.head = entry;
    this.tail = entry;
    this.timer ??= this.arm(this.ms);
    return entry;
  }

  /** Calls answered (nearly) in order leave the queue as they settle: it holds about what is in flight. */
  dropSettled(): void {
    while (this.head && this.head.expire === undefined) this.head = this.head.next;
    if (!this.head) this.tail = undefined;
  }

  private arm(ms: number): NodeJS.Timeout {
    // The call's socket keeps the process alive while it waits, not this timer.
    return setTimeout(this.fire, Math.max(1, Math.ceil(ms))).unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    const now = performance.now();
    try {
      for (
        let entry = this.head;
        entry && (entry.expire === undefined || entry.at <= now);
        entry = this.head
      ) {
        this.head = entry.next;
        const expire = entry.expire;
        entry.expire = undefined;
        expire?.();
      }
    } finally {
      // Re-armed even when a callback threw (the deadlines behind it still pass on time) and only if a
      // callback did not add a deadline meanwhile (which armed the timer already).
      if (!this.head) this.tail = undefined;
      else this.timer ??= this.arm(this.head.at - now);
    }
  };
}

/**
 * Timeouts for many calls with one timer per distinct duration instead of one per call (a `setTimeout`
 * and `clearTimeout` per call were a measurable share of a proxied request's CPU). Each deadline fires
 * like a `setTimeout` of its duration would, no earlier.
 */
export class Deadlines {
  private readonly lanes = new Map<number, Lane>();

  /** Calls `expire` once `ms` have passed, unless cancelled first. */
  add(ms: number, expire: () => void): Deadline {
    let lane = this.lanes.get(ms);
    if (!lane) this.lanes.set(ms, (lane = new Lane(ms)));
    return lane.add(expire);
  }
}
