import type { Logger } from '@nestjs/common';
import {
  BrokenCircuitError,
  type CircuitBreakerPolicy,
  CircuitState,
  circuitBreaker,
  handleWhen,
  IsolatedCircuitError,
} from 'cockatiel';
import { TraceService } from 'nestjs-otel';
import type { AppConfig, ServiceName } from '#lab/config';
import { UpstreamUnavailableError } from './errors.js';
import { SlidingWindowBreaker } from './sliding-window-breaker.js';
import type { BreakerStateName, BreakerStateSource } from './resilience-metrics.js';

interface Answer {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string | string[] | undefined>>;
}

/**
 * A 503 with `Retry-After`: a live upstream that chose not to serve this request now (it sheds load,
 * `overloaded`, or a breaker of its own is open, `circuit_open`) and said when to come back. It answered
 * on purpose and fast, so it is not a failure of that upstream.
 */
export function isDeliberateRefusal(result: unknown): boolean {
  const answer = result as Answer | undefined;
  return answer?.status === 503 && answer.headers?.['retry-after'] !== undefined;
}

/**
 * What a call through the breaker produced: a failure when it threw an upstream failure (no answer:
 * unreachable, timeout) or answered 5xx, except a {@link isDeliberateRefusal deliberate 503}. 4xx answers
 * and errors caused by the request itself (`RequestError`) are not failures.
 */
export const isFailedAnswer = (result: unknown) =>
  ((result as Answer | undefined)?.status ?? 0) >= 500 && !isDeliberateRefusal(result);
const isUpstreamFailure = (error: unknown) =>
  error instanceof UpstreamUnavailableError && error.reason !== 'circuit_open';

/**
 * The circuit breaker of one upstream (cockatiel's policy over a {@link SlidingWindowBreaker}): opens when more than
 * `failureRatio` of the calls over `windowMs` failed (connection errors, timeouts, 5xx answers; not
 * 4xx, not a 503 with `Retry-After`, not a call refused or abandoned because of the request), once
 * there were `minRequests`. While open, calls fail at once with an
 * {@link UpstreamUnavailableError} (`circuit_open`, with the seconds until the trial). After
 * `halfOpenAfterMs` one trial call goes through (the others keep failing fast meanwhile, instead of
 * queueing behind it as cockatiel would): its success closes the breaker, its failure opens it again.
 */
export class UpstreamBreaker implements BreakerStateSource {
  private readonly policy: CircuitBreakerPolicy;
  private readonly halfOpenAfterMs: number;
  private openedAt = 0;

  constructor(
    readonly upstream: ServiceName,
    options: AppConfig['breaker'],
    private readonly logger: Logger,
    private readonly onReject: () => void,
    private readonly traces: TraceService = new TraceService(),
  ) {
    this.halfOpenAfterMs = options.halfOpenAfterMs;
    this.policy = circuitBreaker(handleWhen(isUpstreamFailure).orWhenResult(isFailedAnswer), {
      halfOpenAfter: options.halfOpenAfterMs,
      breaker: new SlidingWindowBreaker({
        threshold: options.failureRatio,
        windowMs: options.windowMs,
        minimumCalls: options.minRequests,
      }),
    });
    this.policy.onBreak((reason) => {
      this.openedAt = Date.now();
      const cause =
        'error' in reason
          ? (reason.error as Error).message
          : 'value' in reason
            ? `answered ${(reason.value as { status: number }).status}`
            : 'isolated';
      this.logger.warn(
        `circuit breaker for ${upstream} opened (${cause}): calls fail fast for ${this.halfOpenAfterMs} ms, then one trial call`,
      );
      this.traces.getSpan()?.addEvent('circuit_breaker.open', {
        'peer.service': upstream,
        'circuit_breaker.half_open_after_ms': this.halfOpenAfterMs,
      });
    });
    this.policy.onHalfOpen(() =>
      this.logger.log(`circuit breaker for ${upstream} half-open: one trial call goes through`),
    );
    this.policy.onReset(() =>
      this.logger.log(`circuit breaker for ${upstream} closed: the trial call succeeded`),
    );
  }

  stateName(now = Date.now()): BreakerStateName {
    switch (this.policy.state) {
      case CircuitState.Closed:
        return 'closed';
      case CircuitState.HalfOpen:
        return 'half_open';
      default:
        return now - this.openedAt >= this.halfOpenAfterMs ? 'half_open' : 'open';
    }
  }

  /** Seconds until a trial call may go through (at least 1). */
  retryAfterSeconds(now = Date.now()): number {
    if (this.policy.state !== CircuitState.Open) return 1;
    return Math.max(1, Math.ceil((this.openedAt + this.halfOpenAfterMs - now) / 1000));
  }

  /** Runs the call unless the breaker is open (or a trial is already in flight): then fails at once. */
  async execute<T>(call: () => Promise<T>): Promise<T> {
    const state = this.policy.state;
    if (
      state === CircuitState.HalfOpen ||
      (state === CircuitState.Open && Date.now() - this.openedAt < this.halfOpenAfterMs)
    ) {
      throw this.rejection();
    }
    try {
      return await this.policy.execute(call);
    } catch (error) {
      if (error instanceof BrokenCircuitError || error instanceof IsolatedCircuitError)
        throw this.rejection();
      throw error;
    }
  }

  private rejection(): UpstreamUnavailableError {
    this.onReject();
    const retryAfter = this.retryAfterSeconds();
    this.traces
      .getSpan()
      ?.addEvent('circuit_breaker.rejected', { 'peer.service': this.upstream, retry_after_s: retryAfter });
    return new UpstreamUnavailableError(this.upstream, 'circuit_open', 'CIRCUIT_OPEN', retryAfter);
  }
}
