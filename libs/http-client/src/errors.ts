import type { ServiceName } from '#lab/config';

export type UnavailableReason = 'timeout' | 'unreachable' | 'circuit_open';

const DESCRIPTIONS: Readonly<Record<UnavailableReason, string>> = {
  timeout: 'not answering in time',
  unreachable: 'unreachable',
  circuit_open: 'failing: its circuit breaker is open',
};

/**
 * A call that got no HTTP answer: the service was unreachable or too slow, or its circuit breaker is
 * open and the call was not even tried. Services turn it into a 503 (504 for a timeout at the gateway)
 * with `Retry-After` when the breaker says when the next trial is (see `#lab/bootstrap`).
 */
export class UpstreamUnavailableError extends Error {
  constructor(
    readonly service: ServiceName,
    readonly reason: UnavailableReason,
    /** What failed: undici's error code (`ECONNREFUSED`, `UND_ERR_HEADERS_TIMEOUT`), `FAULT_INJECTED`, `CIRCUIT_OPEN`. */
    readonly code: string,
    /** Seconds until the breaker lets a trial call through (circuit_open only). */
    readonly retryAfterSeconds?: number,
  ) {
    super(`the ${service} service is ${DESCRIPTIONS[reason]} (${code})`);
    this.name = 'UpstreamUnavailableError';
  }

  /** The problem `code` callers answer with. */
  get problemCode(): 'circuit_open' | 'upstream_timeout' | 'upstream_unavailable' {
    if (this.reason === 'circuit_open') return 'circuit_open';
    return this.reason === 'timeout' ? 'upstream_timeout' : 'upstream_unavailable';
  }
}

/** The {@link UpstreamUnavailableError} behind an error: itself or its `cause` (an HttpException made from one). */
export function upstreamFailureOf(error: unknown): UpstreamUnavailableError | undefined {
  if (error instanceof UpstreamUnavailableError) return error;
  const cause = error instanceof Error ? error.cause : undefined;
  return cause instanceof UpstreamUnavailableError ? cause : undefined;
}

/** `Retry-After` seconds an error carries (a circuit breaker open, directly or as the cause), if any. */
export function retryAfterOf(error: unknown): number | undefined {
  return upstreamFailureOf(error)?.retryAfterSeconds;
}
