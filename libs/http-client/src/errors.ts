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

/** Why a call failed because of the request itself rather than the upstream. */
export type RequestErrorReason = 'invalid_request' | 'caller_aborted';

/**
 * A call that failed because of the request, not the upstream: the HTTP client refused it before
 * sending (a header or value it does not support), or the caller abandoned it (the client of the
 * gateway disconnected). Never retried, never counted by the upstream's circuit breaker: one client's
 * bad or abandoned requests must not make an upstream look down for everybody.
 */
export class RequestError extends Error {
  constructor(
    readonly service: ServiceName,
    readonly reason: RequestErrorReason,
    /** undici's or Node's error code (`UND_ERR_NOT_SUPPORTED`, `ERR_INVALID_CHAR`), or `CALLER_ABORTED`. */
    readonly code: string,
    detail?: string,
  ) {
    super(
      reason === 'caller_aborted'
        ? `the call to the ${service} service was abandoned by its caller`
        : `the call to the ${service} service was refused before it was sent (${code}${detail ? `: ${detail}` : ''})`,
    );
    this.name = 'RequestError';
  }
}
