import { Injectable, Logger } from '@nestjs/common';
import type { ServiceName } from '#lab/config';
import { LabError } from '#lab/errors';
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import {
  type CallerSignal,
  endToEndHeaders,
  forEachEndToEndHeader,
  type RawResponse,
  RequestError,
  ServiceClient,
  UpstreamUnavailableError,
  upstreamUnavailable,
} from '#lab/http-client';
import { Metrics } from '#lab/telemetry';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Counter } from 'prom-client';

/**
 * End-to-end headers the gateway does not pass on either way, besides the hop-by-hop ones
 * (`endToEndHeaders`): those it recomputes or sets itself.
 */
const RECOMPUTED = new Set(['content-length', 'forwarded', 'x-real-ip', 'x-request-id']);
const isRecomputed = (name: string) => RECOMPUTED.has(name);
/** Answers up to this size (with a Content-Length) are buffered rather than streamed. */
const BUFFERED_BODY_BYTES = 256 * 1024;
/** Identity and hop headers only the gateway may set: a client sending them is ignored. */
const UNTRUSTED = /^(x-user-|x-internal-|x-forwarded-)/;

/** Why the gateway refused to forward a request (`gateway_requests_refused_total{reason}`). */
export const REFUSAL_REASONS = ['ambiguous_path', 'invalid_request', 'client_closed'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** A dot segment, also one followed by an encoded `?` or `#` or by `;` parameters (`..%3f`, `%2e%2e%23x`, `..;x`). */
const DOT_SEGMENT = /^(?:\.|%2e){1,2}(?:(?:%3f|%23|;).*)?$/i;

/**
 * A request target the upstream URL (or the upstream's router) could read otherwise than the gateway:
 * a fragment (`#`: never part of a request target, and dropped by URL parsers, so `/x/..#` would become
 * `/`), dot segments (`..`, `%2e%2e`, also ended by an encoded `?`/`#` or `;`), backslashes (read as
 * `/`) or control characters (dropped). Forwarded as is, `/api/products/../metrics` would reach a
 * route the gateway never exposes, so such paths are refused before routing to the upstream. The
 * path ends at the first `?`; the query is the upstream's to read.
 */
export function isAmbiguousPath(path: string): boolean {
  if (path.includes('#')) return true;
  const query = path.indexOf('?');
  const pathname = query < 0 ? path : path.slice(0, query);
  // Most paths hold none of the characters any of the checks below looks for.
  // eslint-disable-next-line no-control-regex -- control characters are among them
  if (!/[.%\\\x00-\x1f\x7f]/.test(pathname)) return false;
  return (
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
    /[\\\x00-\x1f\x7f]|%5c|%00/i.test(pathname) ||
    pathname.split('/').some((segment) => DOT_SEGMENT.test(segment))
  );
}

/**
 * What the gateway sends on: the client's end-to-end headers (hop-by-hop ones and those the
 * `Connection` header names dropped, RFC 9110 §7.6.1; identity headers only the gateway may set
 * dropped), plus its request id and the `X-Forwarded-*` it owns: the client's address as the gateway
 * saw it (a client's own `X-Forwarded-For` is never trusted: the gateway is the edge).
 */
export function forwardedHeaders(request: FastifyRequest): Record<string, string | string[]> {
  const headers = endToEndHeaders(request.headers, (name) => RECOMPUTED.has(name) || UNTRUSTED.test(name));
  headers['x-request-id'] = request.id;
  headers['x-forwarded-for'] = request.ip;
  headers['x-forwarded-proto'] = request.protocol;
  if (request.headers.host) headers['x-forwarded-host'] = request.headers.host;
  return headers;
}

/**
 * The client's connection as the signal that abandons the upstream call: aborted once it closed before
 * the answer was sent. One listener at a time (the client's attempts run one after the other).
 */
class ClientConnection implements CallerSignal {
  aborted = false;
  private listener: (() => void) | undefined = undefined;

  constructor(private readonly response: ServerResponse) {
    // `on`, not `once` (a wrapper per request): `release()` removes it, and a response closes once.
    response.on('close', this.onClose);
  }

  private readonly onClose = (): void => {
    if (this.response.writableEnded) return;
    this.aborted = true;
    this.listener?.();
  };

  addEventListener(_type: 'abort', listener: () => void): void {
    this.listener = listener;
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    if (this.listener === listener) this.listener = undefined;
  }

  /** The answer is in: the connection closing no longer concerns the call. */
  release(): void {
    this.response.off('close', this.onClose);
  }
}

/** How the gateway calls the upstream of one route. */
export interface ForwardOptions {
  /** This route's timeout per attempt instead of the upstream's (`UPSTREAM_TIMEOUTS_MS`). */
  readonly timeoutMs?: number;
  /** `false`: past the upstream's circuit breaker (the fault switch must reach a failing service). */
  readonly breaker?: boolean;
}

/**
 * The gateway's answer when the owning service gave none: 504 `upstream_timeout`, 503
 * `upstream_unavailable`, or 503 `circuit_open` with Retry-After while its breaker is open.
 */
function unavailableAnswer(service: ServiceName, error: UpstreamUnavailableError): LabError {
  const options = { cause: error, retryAfterSeconds: error.retryAfterSeconds };
  switch (error.reason) {
    case 'timeout':
      return new LabError('upstream_timeout', `the ${service} service did not answer in time`, options);
    case 'circuit_open':
      return new LabError(
        'circuit_open',
        `the ${service} service is unavailable (circuit breaker open); retry in ${error.retryAfterSeconds ?? 1} s`,
        options,
      );
    default:
      return new LabError('upstream_unavailable', `the ${service} service is unavailable`, options);
  }
}

/**
 * Forwards a request to the service that owns it through the shared {@link ServiceClient}: timeouts per
 * upstream, retries of idempotent methods (the body is already in memory, and nothing has been sent to
 * the client before the final attempt), the upstream's circuit breaker. A small answer is buffered, a large one streamed.
 */
@Injectable()
export class ProxyService {
  private readonly logger = new Logger('Proxy');
  private readonly refused: Counter<'reason'>;

  constructor(
    private readonly client: ServiceClient,
    metrics: Metrics,
  ) {
    this.refused = metrics.counter({
      name: 'gateway_requests_refused_total',
      help: 'Requests the gateway did not forward or whose answer it could not deliver, by reason: ambiguous_path (400), invalid_request (400, refused by the HTTP client), client_closed (499, the client went away first).',
      labelNames: ['reason'],
      known: { reason: REFUSAL_REASONS },
    });
  }

  async forward(
    request: FastifyRequest,
    reply: FastifyReply,
    service: ServiceName,
    path: string,
    options: ForwardOptions = {},
  ): Promise<void> {
    // `path` is `request.url` or its end (without `/api`): one check covers both.
    if (isAmbiguousPath(request.url)) {
      this.refused.inc({ reason: 'ambiguous_path' });
      this.logger.warn({
        message: `refused ${request.method} ${request.url.split(/[?#]/, 1)[0]}: a fragment, dot segments, backslashes or control characters in the path (request ${request.id})`,
        'gateway.refusal': 'ambiguous_path',
      });
      throw new LabError(
        'ambiguous_path',
        "the path must not contain a '#', '.' or '..' segments, backslashes or control characters",
      );
    }
    // The client going away abandons the call: neither a failure of the upstream nor worth a retry.
    const client = new ClientConnection(reply.raw);

    const body = Buffer.isBuffer(request.body) && request.body.length > 0 ? request.body : undefined;
    let response: RawResponse;
    try {
      response = await this.client.send(service, {
        method: request.method,
        path,
        headers: forwardedHeaders(request),
        body,
        signal: client,
        timeoutMs: options.timeoutMs,
        breaker: options.breaker,
      });
    } catch (error) {
      client.release();
      if (error instanceof RequestError) throw this.requestFailed(request, path, error);
      if (!(error instanceof UpstreamUnavailableError)) throw error;
      // One line per fast-failed request would flood the logs while a breaker is open; its transitions are logged.
      const line = `${request.method} ${path} → ${service} failed: ${error.failure} (request ${request.id})`;
      if (error.reason === 'circuit_open') this.logger.debug(line);
      else this.logger.warn(line);
      throw unavailableAnswer(service, error);
    }

    client.release();
    // A small answer of known length is read whole and sent as one buffer: piping it through streams
    // cost the gateway more CPU than the rest of the hop. Anything else is streamed.
    const length = Number(response.headers['content-length']);
    let answer: Buffer | Readable;
    if (length <= BUFFERED_BODY_BYTES) {
      try {
        answer = await response.body.whole();
      } catch (error) {
        this.logger.warn(
          `${request.method} ${path} → ${service}: the answer broke off (request ${request.id})`,
        );
        throw unavailableAnswer(service, upstreamUnavailable(service, error));
      }
    } else {
      answer = response.body.stream();
    }
    void reply.status(response.status);
    // A header the reply already holds with the same value is not set again: every service sends the
    // security headers the gateway's own hook has set, and each one set again cost two more validated
    // `setHeader`s (the reply's, then Fastify's `writeHead`) on every answer.
    const raw = reply.raw;
    forEachEndToEndHeader(response.headers, isRecomputed, (name, value) => {
      if (raw.getHeader(name) !== value) void reply.header(name, value);
    });
    await reply.send(answer);
  }

  /** 499 for a client that went away (nginx's code; nobody reads it but the logs), 400 for a request the HTTP client refused. */
  private requestFailed(request: FastifyRequest, path: string, error: RequestError): LabError {
    const line = `${request.method} ${path} → ${error.service} not forwarded: ${error.message} (request ${request.id})`;
    if (error.reason === 'caller_aborted') {
      this.refused.inc({ reason: 'client_closed' });
      this.logger.log({ message: line, 'gateway.refusal': 'client_closed' });
      return new LabError('client_closed_request', 'the client closed the request', { cause: error });
    }
    this.refused.inc({ reason: 'invalid_request' });
    this.logger.warn({ message: line, 'gateway.refusal': 'invalid_request', 'error.code': error.failure });
    return new LabError('invalid_request', 'the request cannot be forwarded as sent', { cause: error });
  }
}
