import type { ServiceName } from '#lab/config';
import { LabError } from '#lab/errors';

export type UnavailableReason = 'timeout' | 'unreachable' | 'circuit_open';

const DESCRIPTIONS: Readonly<Record<UnavailableReason, string>> = {
  timeout: 'not answering in time',
  unreachable: 'unreachable',
  circuit_open: 'failing: its circuit breaker is open',
};

const CODES: Readonly<
  Record<UnavailableReason, 'upstream_timeout' | 'upstream_unavailable' | 'circuit_open'>
> = {
  timeout: 'upstream_timeout',
  unreachable: 'upstream_unavailable',
  circuit_open: 'circuit_open',
};

/**
 * A call that got no HTTP answer: the service was unreachable or too slow, or its circuit breaker is
 * open and the call was not even tried. Its code answers it (503, 504 for a timeout) with `Retry-After`
 * when the breaker says when the next trial is; a service that depends on the upstream answers
 * {@link dependencyUnavailable} instead.
 */
export class UpstreamUnavailableError extends LabError {
  constructor(
    readonly service: ServiceName,
    readonly reason: UnavailableReason,
    /** What failed: undici's error code (`ECONNREFUSED`, `UND_ERR_HEADERS_TIMEOUT`), `FAULT_INJECTED`, `CIRCUIT_OPEN`. */
    readonly failure: string,
    /** Seconds until the breaker lets a trial call through (circuit_open only). */
    retryAfterSeconds?: number,
  ) {
    super(CODES[reason], `the ${service} service is ${DESCRIPTIONS[reason]} (${failure})`, {
      retryAfterSeconds,
    });
    this.name = 'UpstreamUnavailableError';
  }
}

/** The {@link UpstreamUnavailableError} behind an error: itself or its `cause`. */
export function upstreamFailureOf(error: unknown): UpstreamUnavailableError | undefined {
  if (error instanceof UpstreamUnavailableError) return error;
  const cause = error instanceof Error ? error.cause : undefined;
  return cause instanceof UpstreamUnavailableError ? cause : undefined;
}

/**
 * A service's answer when a service it depends on failed (`cause`, if it was a call): 503
 * `dependency_unavailable`, or `circuit_open` with `Retry-After` while that upstream's breaker is open.
 */
export function dependencyUnavailable(message: string, cause?: unknown): LabError {
  const upstream = upstreamFailureOf(cause);
  if (upstream?.reason === 'circuit_open') {
    return new LabError('circuit_open', message, {
      retryAfterSeconds: upstream.retryAfterSeconds,
      cause: upstream,
    });
  }
  return new LabError('dependency_unavailable', message, { cause: upstream ?? cause });
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
    readonly failure: string,
    detail?: string,
  ) {
    super(
      reason === 'caller_aborted'
        ? `the call to the ${service} service was abandoned by its caller`
        : `the call to the ${service} service was refused before it was sent (${failure}${detail ? `: ${detail}` : ''})`,
    );
    this.name = 'RequestError';
  }
}
