import { performance } from 'node:perf_hooks';

export interface OpenLoopOptions {
  /** Starts per second. */
  readonly rate: number;
  /** 0: until `signal` aborts. */
  readonly durationMs: number;
  readonly maxInFlight: number;
  readonly signal: AbortSignal;
  /** Starts one unit of work; its promise must not reject. */
  start(): Promise<void>;
  /** A start was due while `maxInFlight` were running: it is skipped, not queued. */
  onSkip(): void;
}

/**
 * Open-loop schedule: the n-th start is due at n / rate seconds, whether or not earlier ones have
 * answered (slow answers do not slow the load down, as with real users). Starts that fell behind (a
 * busy event loop) are made at once. Resolves when the duration is over or the signal aborts, once the
 * work in flight has finished.
 */
export function runOpenLoop(options: OpenLoopOptions): Promise<void> {
  const { rate, durationMs, maxInFlight, signal } = options;
  const inFlight = new Set<Promise<void>>();
  const t0 = performance.now();
  let launched = 0;
  let timer: NodeJS.Timeout | undefined;

  return new Promise<void>((resolve) => {
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      signal.removeEventListener('abort', finish);
      void Promise.allSettled([...inFlight]).then(() => resolve());
    };
    signal.addEventListener('abort', finish, { once: true });
    if (signal.aborted) return finish();

    const tick = () => {
      if (finished) return;
      const elapsed = performance.now() - t0;
      const end = durationMs > 0 ? durationMs : Infinity;
      // Everything due up to now (the first start is due at 0), within the duration.
      const due = Math.floor((Math.min(elapsed, end - 1e-6) / 1000) * rate) + 1 - launched;
      for (let i = 0; i < due; i++) {
        launched++;
        if (inFlight.size >= maxInFlight) {
          options.onSkip();
          continue;
        }
        const work = options.start().finally(() => inFlight.delete(work));
        inFlight.add(work);
      }
      const nextAt = (launched / rate) * 1000;
      if (nextAt >= end) {
        timer = setTimeout(finish, Math.max(0, end - (performance.now() - t0)));
        return;
      }
      timer = setTimeout(tick, Math.max(0, nextAt - (performance.now() - t0)));
    };
    tick();
  });
}
