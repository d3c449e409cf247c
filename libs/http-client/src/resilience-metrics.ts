import type { Counter } from 'prom-client';
import type { Metrics } from '#lab/telemetry';

export const BREAKER_STATES = ['closed', 'open', 'half_open'] as const;
export type BreakerStateName = (typeof BREAKER_STATES)[number];

export const RETRY_REASONS = [
  'unreachable',
  'timeout',
  'status_500',
  'status_502',
  'status_503',
  'status_504',
] as const;
export type RetryReason = (typeof RETRY_REASONS)[number];

/** Why a call that did not succeed was not held against its upstream (`circuit_breaker_not_counted_total`). */
export const NOT_COUNTED_REASONS = ['invalid_request', 'caller_aborted', 'deliberate_503'] as const;

/** What the breaker gauge reads at scrape time: the breakers of this process by upstream. */
export interface BreakerStateSource {
  readonly upstream: string;
  stateName(now: number): BreakerStateName;
}

/**
 * The breakers the gauge reads: one gauge per process (the default registry), so it reads the breakers
 * of every client of the process (one per application; tests create several).
 */
const BreakerGaugeSources = { all: new Set<BreakerStateSource>() };

/**
 * The HTTP client's resilience metrics, made with the injected {@link Metrics}: every series of every
 * upstream in `peers` (those of the configuration) at 0 from the start, so a dashboard shows 0 on a
 * quiet lab and `increase()` counts the first event too.
 */
export class ResilienceCounters {
  readonly retries: Counter<'peer_service' | 'reason'>;
  readonly refused: Counter<'peer_service'>;
  readonly rejected: Counter<'upstream'>;
  readonly notCounted: Counter<'upstream' | 'reason'>;

  constructor(metrics: Metrics, peers: readonly string[]) {
    this.retries = metrics.counter({
      name: 'http_client_retries_total',
      help: 'Calls to other services retried, by why the previous attempt failed.',
      labelNames: ['peer_service', 'reason'],
      known: { peer_service: peers, reason: RETRY_REASONS },
    });
    this.refused = metrics.counter({
      name: 'http_client_retries_refused_total',
      help: 'Retries not made because the retry budget of the upstream was spent.',
      labelNames: ['peer_service'],
      known: { peer_service: peers },
    });
    this.rejected = metrics.counter({
      name: 'circuit_breaker_rejected_total',
      help: 'Calls failed fast, without calling the upstream, because its circuit breaker was open.',
      labelNames: ['upstream'],
      known: { upstream: peers },
    });
    this.notCounted = metrics.counter({
      name: 'circuit_breaker_not_counted_total',
      help: 'Calls that failed or were refused without it being a failure of the upstream, so neither retried nor counted by its breaker: invalid_request (refused before sending), caller_aborted (the client went away), deliberate_503 (a 503 with Retry-After).',
      labelNames: ['upstream', 'reason'],
      known: { upstream: peers, reason: NOT_COUNTED_REASONS },
    });
    // `circuit_breaker_state{upstream, state}`: 1 for the current state, 0 for the two others, computed at
    // scrape time (nothing on the request path). `half_open` also covers an open breaker whose wait is
    // over and that lets the next call through as a trial. Until a breaker exists (the first call), its
    // upstream reads closed.
    const gauge = metrics.gauge({
      name: 'circuit_breaker_state',
      help: 'State of the circuit breaker for calls to an upstream service: 1 for the current state (closed, open, half_open).',
      labelNames: ['upstream', 'state'],
      collect: (gauge) => {
        const now = Date.now();
        for (const source of BreakerGaugeSources.all) {
          const current = source.stateName(now);
          for (const state of BREAKER_STATES)
            gauge.set({ upstream: source.upstream, state }, state === current ? 1 : 0);
        }
      },
    });
    for (const peer of peers) {
      if ([...BreakerGaugeSources.all].some((source) => source.upstream === peer)) continue;
      for (const state of BREAKER_STATES) gauge.set({ upstream: peer, state }, state === 'closed' ? 1 : 0);
    }
  }

  /** Reports this breaker in `circuit_breaker_state` until the returned function is called. */
  watchBreaker(source: BreakerStateSource): () => void {
    BreakerGaugeSources.all.add(source);
    return () => BreakerGaugeSources.all.delete(source);
  }
}
