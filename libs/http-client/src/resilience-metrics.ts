import { Counter, Gauge } from 'prom-client';
import { sharedMetric } from '#lab/telemetry';

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

const sources = new Set<BreakerStateSource>();

/**
 * `circuit_breaker_state{upstream, state}`: 1 for the current state, 0 for the two others, computed at
 * scrape time (nothing on the request path). `half_open` also covers an open breaker whose wait is over
 * and that lets the next call through as a trial.
 */
function breakerGauge(): Gauge<'upstream' | 'state'> {
  return sharedMetric(
    'circuit_breaker_state',
    () =>
      new Gauge({
        name: 'circuit_breaker_state',
        help: 'State of the circuit breaker for calls to an upstream service: 1 for the current state (closed, open, half_open).',
        labelNames: ['upstream', 'state'],
        collect() {
          const now = Date.now();
          for (const source of sources) {
            const current = source.stateName(now);
            for (const state of BREAKER_STATES)
              this.set({ upstream: source.upstream, state }, state === current ? 1 : 0);
          }
        },
      }),
  );
}

export function watchBreaker(source: BreakerStateSource): () => void {
  breakerGauge();
  sources.add(source);
  return () => sources.delete(source);
}

/** Counters of the HTTP client's resilience, created on first use, every series of a peer at 0. */
export class ResilienceCounters {
  readonly retries = sharedMetric(
    'http_client_retries_total',
    () =>
      new Counter<'peer_service' | 'reason'>({
        name: 'http_client_retries_total',
        help: 'Calls to other services retried, by why the previous attempt failed.',
        labelNames: ['peer_service', 'reason'],
      }),
  );
  readonly refused = sharedMetric(
    'http_client_retries_refused_total',
    () =>
      new Counter<'peer_service'>({
        name: 'http_client_retries_refused_total',
        help: 'Retries not made because the retry budget of the upstream was spent.',
        labelNames: ['peer_service'],
      }),
  );
  readonly rejected = sharedMetric(
    'circuit_breaker_rejected_total',
    () =>
      new Counter<'upstream'>({
        name: 'circuit_breaker_rejected_total',
        help: 'Calls failed fast, without calling the upstream, because its circuit breaker was open.',
        labelNames: ['upstream'],
      }),
  );

  readonly notCounted = sharedMetric(
    'circuit_breaker_not_counted_total',
    () =>
      new Counter<'upstream' | 'reason'>({
        name: 'circuit_breaker_not_counted_total',
        help: 'Calls that failed or were refused without it being a failure of the upstream, so neither retried nor counted by its breaker: invalid_request (refused before sending), caller_aborted (the client went away), deliberate_503 (a 503 with Retry-After).',
        labelNames: ['upstream', 'reason'],
      }),
  );

  /** Every series of this peer at 0, so `increase()` counts the first event too. */
  initPeer(peer: string): void {
    for (const reason of NOT_COUNTED_REASONS) this.notCounted.inc({ upstream: peer, reason }, 0);
    for (const reason of RETRY_REASONS) this.retries.inc({ peer_service: peer, reason }, 0);
    this.refused.inc({ peer_service: peer }, 0);
    this.rejected.inc({ upstream: peer }, 0);
  }
}
