import {
  BadRequestException,
  GatewayTimeoutException,
  Injectable,
  Logger,
  ServiceUnavailableException,
} from '@nestjs/common';
import type { ServiceName } from '#lab/config';
import { type RawResponse, ServiceClient, UpstreamUnavailableError, upstreamUnavailable } from '#lab/http-client';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Connection-level headers (RFC 9110 §7.6.1) and those the gateway recomputes. */
const NOT_FORWARDED = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'forwarded',
  'x-real-ip',
  'x-request-id',
]);
/** Answers up to this size (with a Content-Length) are buffered rather than streamed. */
const BUFFERED_BODY_BYTES = 256 * 1024;
/** Identity and hop headers only the gateway may set: a client sending them is ignored. */
const UNTRUSTED = /^(x-user-|x-internal-|x-forwarded-)/;

/**
 * A path the upstream URL would rewrite: dot segments (`..`, `%2e%2e`), backslashes (read as `/`)
 * or control characters (dropped). Forwarded as is, `/api/products/../metrics` would reach a route
 * the gateway never exposes, so such paths are refused before routing to the upstream.
 */
export function isAmbiguousPath(path: string): boolean {
  const pathname = path.split('?', 1)[0];
  return (
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
    /[\\\x00-\x1f\x7f]/.test(pathname) ||
    pathname.split('/').some((segment) => /^(?:\.|%2e){1,2}$/i.test(segment))
  );
}

/** The gateway's answer when the owning service gave none: 504 for a timeout, else 503 (Retry-After while its breaker is open). */
function unavailableAnswer(service: ServiceName, error: UpstreamUnavailableError): Error {
  const options = { cause: error };
  switch (error.reason) {
    case 'timeout':
      return new GatewayTimeoutException(
        { message: `the ${service} service did not answer in time`, code: 'upstream_timeout' },
        options,
      );
    case 'circuit_open':
      return new ServiceUnavailableException(
        {
          message: `the ${service} service is unavailable (circuit breaker open); retry in ${error.retryAfterSeconds ?? 1} s`,
          code: 'circuit_open',
        },
        options,
      );
    default:
      return new ServiceUnavailableException(
        { message: `the ${service} service is unavailable`, code: 'upstream_unavailable' },
        options,
      );
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

  constructor(private readonly client: ServiceClient) {}

  async forward(
    request: FastifyRequest,
    reply: FastifyReply,
    service: ServiceName,
    path: string,
  ): Promise<void> {
    if (isAmbiguousPath(path)) {
      this.logger.warn(
        `refused ${request.method} ${request.url}: dot segments or backslashes in the path (request ${request.id})`,
      );
      throw new BadRequestException(
        "the path must not contain '.' or '..' segments, backslashes or control characters",
      );
    }
    const headers: Record<string, string | string[]> = {};
    for (const name in request.headers) {
      const value = request.headers[name];
      if (value === undefined || NOT_FORWARDED.has(name) || UNTRUSTED.test(name)) continue;
      headers[name] = value;
    }
    headers['x-request-id'] = request.id;
    headers['x-forwarded-for'] = request.ip;
    headers['x-forwarded-proto'] = request.protocol;
    if (request.headers.host) headers['x-forwarded-host'] = request.headers.host;

    const body = Buffer.isBuffer(request.body) && request.body.length > 0 ? request.body : undefined;
    let response: RawResponse;
    try {
      response = await this.client.send(service, { method: request.method, path, headers, body });
    } catch (error) {
      if (!(error instanceof UpstreamUnavailableError)) throw error;
      // One line per fast-failed request would flood the logs while a breaker is open; its transitions are logged.
      const line = `${request.method} ${path} → ${service} failed: ${error.code} (request ${request.id})`;
      if (error.reason === 'circuit_open') this.logger.debug(line);
      else this.logger.warn(line);
      throw unavailableAnswer(service, error);
    }

    // A small answer of known length is read whole and sent as one buffer: piping it through streams
    // cost the gateway more CPU than the rest of the hop. Anything else is streamed.
    const length = Number(response.headers['content-length']);
    let answer: Buffer | RawResponse['body'] = response.body;
    if (length <= BUFFERED_BODY_BYTES) {
      try {
        answer = Buffer.from(await response.body.arrayBuffer());
      } catch (error) {
        this.logger.warn(`${request.method} ${path} → ${service}: the answer broke off (request ${request.id})`);
        throw unavailableAnswer(service, upstreamUnavailable(service, error));
      }
    }
    void reply.status(response.status);
    for (const name in response.headers) {
      const value = response.headers[name];
      if (value !== undefined && !NOT_FORWARDED.has(name)) void reply.header(name, value);
    }
    await reply.send(answer);
  }
}
