/**
 * How a request ended, from the generator's point of view:
 * - `ok`: 2xx;
 * - `expected`: an answer the scenario allows (409 out_of_stock for an order, 409 not_cancellable when
 *   two cancels race), counted apart from errors;
 * - `rate_limited`: 429 from the gateway's rate limit;
 * - `error`: 5xx, timeouts, connection failures and any other 4xx.
 */
export type Outcome = 'ok' | 'expected' | 'rate_limited' | 'error';

const OUTCOME_RANK: Readonly<Record<Outcome, number>> = { ok: 0, expected: 1, rate_limited: 2, error: 3 };

/** The worse of two outcomes (a task is as bad as its worst request). */
export function worse(a: Outcome, b: Outcome): Outcome {
  return OUTCOME_RANK[a] >= OUTCOME_RANK[b] ? a : b;
}

/**
 * Latencies in logarithmic buckets (2% apart, 0.1 ms to about 10 minutes): bounded memory however long
 * the run, percentiles within 2%. Min and max are exact.
 */
export class LatencyHistogram {
  private static readonly BASE_MS = 0.1;
  private static readonly RATIO = 1.02;
  private static readonly BUCKETS = Math.ceil(Math.log(6_000_000) / Math.log(LatencyHistogram.RATIO)) + 1;
  private readonly counts = new Uint32Array(LatencyHistogram.BUCKETS);
  count = 0;
  min = Infinity;
  max = 0;
  sum = 0;

  record(ms: number): void {
    const value = Math.max(0, ms);
    const index =
      value <= LatencyHistogram.BASE_MS
        ? 0
        : Math.min(
            LatencyHistogram.BUCKETS - 1,
            Math.ceil(Math.log(value / LatencyHistogram.BASE_MS) / Math.log(LatencyHistogram.RATIO)),
          );
    this.counts[index]++;
    this.count++;
    this.sum += value;
    this.min = Math.min(this.min, value);
    this.max = Math.max(this.max, value);
  }

  /** Nearest rank: the upper bound of the bucket holding the p-th value, clamped to [min, max]. */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) {
        const upper = LatencyHistogram.BASE_MS * LatencyHistogram.RATIO ** i;
        return Math.min(this.max, Math.max(this.min, upper));
      }
    }
    return this.max;
  }
}

export interface TaskStats {
  readonly latency: LatencyHistogram;
  readonly outcomes: Record<Outcome, number>;
}

interface AnswerStats {
  count: number;
  outcome: Outcome;
}

const emptyOutcomes = (): Record<Outcome, number> => ({ ok: 0, expected: 0, rate_limited: 0, error: 0 });

/** Everything counted during a run; the progress line and the summary read it. */
export class Stats {
  readonly tasks = new Map<string, TaskStats>();
  readonly allTasks: TaskStats = { latency: new LatencyHistogram(), outcomes: emptyOutcomes() };
  /** Requests of the tasks (the mix); those of the sign-up phase are in `signupRequests`. */
  readonly requests: TaskStats = { latency: new LatencyHistogram(), outcomes: emptyOutcomes() };
  readonly signupRequests: TaskStats = { latency: new LatencyHistogram(), outcomes: emptyOutcomes() };
  /** Where requests are counted: sign-up (slow on purpose: password hashing) apart from the mix. */
  phase: 'signup' | 'mix' = 'signup';
  /** `200`, `409 out_of_stock`, `503 circuit_open`, `timeout`, `ECONNREFUSED`… */
  readonly answers = new Map<string, AnswerStats>();
  /** Tasks due while `maxInFlight` were running: not started (open loop: the schedule does not wait). */
  skipped = 0;
  inFlight = 0;

  recordRequest(answer: string, outcome: Outcome, ms: number): void {
    const target = this.phase === 'signup' ? this.signupRequests : this.requests;
    target.latency.record(ms);
    target.outcomes[outcome]++;
    const entry = this.answers.get(answer) ?? { count: 0, outcome };
    entry.count++;
    entry.outcome = worse(entry.outcome, outcome);
    this.answers.set(answer, entry);
  }

  recordTask(task: string, outcome: Outcome, ms: number): void {
    let stats = this.tasks.get(task);
    if (!stats) {
      stats = { latency: new LatencyHistogram(), outcomes: emptyOutcomes() };
      this.tasks.set(task, stats);
    }
    for (const target of task === 'signup' ? [stats] : [stats, this.allTasks]) {
      target.latency.record(ms);
      target.outcomes[outcome]++;
    }
  }
}

const ms = (value: number) =>
  Number.isNaN(value) ? '-' : value >= 100 ? value.toFixed(0) : value.toFixed(1);

/** `[traffic 15 s] tasks 150 (2 in flight) · requests 240 · errors 0 · expected 3 · 9.9 tasks/s` */
export function progressLine(
  stats: Stats,
  elapsedMs: number,
  tasksPerSecondNow: number,
  targetRate: number,
): string {
  const done = stats.allTasks.latency.count;
  const { error, expected, rate_limited } = stats.requests.outcomes;
  const parts = [
    `tasks ${done} (${stats.inFlight} in flight${stats.skipped ? `, ${stats.skipped} skipped` : ''})`,
    `requests ${stats.requests.latency.count}`,
    `errors ${error}`,
    `expected ${expected}`,
    ...(rate_limited ? [`rate-limited ${rate_limited}`] : []),
    `${tasksPerSecondNow.toFixed(1)} tasks/s (target ${targetRate})`,
  ];
  return `[traffic ${(elapsedMs / 1000).toFixed(0).padStart(4)} s] ${parts.join(' · ')}`;
}

/**
 * The final report: totals, answers by status, then p50/p95/p99 per task and overall. `elapsedMs`: how
 * long the mix ran (the rates are over it; sign-up comes before).
 */
export function summary(stats: Stats, elapsedMs: number): string {
  const seconds = elapsedMs / 1000;
  const r = stats.requests;
  const lines = [
    `traffic summary after ${seconds.toFixed(1)} s of tasks`,
    `  tasks      ${stats.allTasks.latency.count} done (${(stats.allTasks.latency.count / Math.max(seconds, 0.001)).toFixed(1)}/s), ${stats.skipped} skipped (in-flight cap)`,
    `  requests   ${r.latency.count} (${(r.latency.count / Math.max(seconds, 0.001)).toFixed(1)}/s): ok ${r.outcomes.ok}, expected ${r.outcomes.expected}, rate-limited ${r.outcomes.rate_limited}, errors ${r.outcomes.error}`,
    '  answers',
  ];
  const answers = [...stats.answers].sort(([a], [b]) => a.localeCompare(b));
  for (const [answer, { count, outcome }] of answers) {
    lines.push(
      `    ${answer.padEnd(28)} ${String(count).padStart(8)}  ${outcome === 'ok' ? '' : outcome}`.trimEnd(),
    );
  }
  lines.push('  latency (ms)        count      p50      p95      p99      max   errors');
  const row = (name: string, s: TaskStats) =>
    `    ${name.padEnd(14)} ${String(s.latency.count).padStart(8)} ${[50, 95, 99].map((p) => ms(s.latency.percentile(p)).padStart(8)).join(' ')} ${ms(s.latency.count ? s.latency.max : NaN).padStart(8)} ${String(s.outcomes.error).padStart(8)}`;
  const order = ['signup', 'browse', 'view', 'order', 'cancel', 'profile'];
  const names = [...stats.tasks.keys()].sort((a, b) => order.indexOf(a) - order.indexOf(b));
  for (const name of names) lines.push(row(`task ${name}`, stats.tasks.get(name) as TaskStats));
  lines.push(row('all tasks', stats.allTasks));
  lines.push(row('all requests', stats.requests));
  if (stats.signupRequests.latency.count) lines.push(row('signup reqs', stats.signupRequests));
  return lines.join('\n');
}
