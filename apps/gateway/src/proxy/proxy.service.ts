import {
  BadRequestException,
  GatewayTimeoutException, Inject, Injectable,
  Logger,
  type OnModuleDestroy,
  ServiceUnavailableException,
} from '@nestjs/common';
import { APP_CONFIG, type AppConfig, type ServiceName } from '#lab/config';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Agent, request as send } from 'undici';

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
/** Identity and hop headers only the gateway may set: a client sending them is ignored. */
const UNTRUSTED = /^(x-user-|x-internal-|x-forwarded-)/;

/**
 * A path the upstream URL would rewrite: dot segments (`..`, `%2e%2e`), backslashes (read as `/`)
 * or control characters (dropped). Forwarded as is, `/api/products/../metrics` would reach a route
 * the gateway never exposes, so such paths are refused before routing to the upstream.
 */
export function isAmbiguousPath(path: string): boolean {
  const pathname = path.split('?', 1)[0];
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  return /[\\\x00-\x1f\x7f]/.test(pathname) || pathname.split('/').some((segment) => /^(?:\.|%2e){1,2}$/i.test(segment));
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** Forwards a request to the service that owns it over pooled keep-alive connections (undici). */
@Injectable()
export class ProxyService implements OnModuleDestroy {
  private readonly logger = new Logger('Proxy');
  private readonly agent = new Agent({ keepAliveTimeout: 30_000, connections: 256 });

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async forward(request: FastifyRequest, reply: FastifyReply, service: ServiceName, path: string): Promise<void> {
    if (isAmbiguousPath(path)) {
      this.logger.warn(`refused ${request.method} ${request.url}: dot segments or backslashes in the path (request ${request.id})`);
      throw new BadRequestException("the path must not contain '.' or '..' segments, backslashes or control characters");
    }
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (value === undefined || NOT_FORWARDED.has(name) || UNTRUSTED.test(name)) continue;
      headers[name] = value;
    }
    headers['x-request-id'] = request.id;
    headers['x-forwarded-for'] = request.ip;
    headers['x-forwarded-proto'] = request.protocol;
    if (request.headers.host) headers['x-forwarded-host'] = request.headers.host;

    const body = Buffer.isBuffer(request.body) && request.body.length > 0 ? request.body : undefined;
    const timeout = this.config.upstreamTimeoutMs;
    let response: Awaited<ReturnType<typeof send>>;
    try {
      response = await send(`${this.config.urls[service]}${path}`, {
        method: request.method as 'GET',
        headers,
        body,
        dispatcher: this.agent,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'unknown';
      this.logger.warn(`${request.method} ${path} → ${service} failed: ${code} (request ${request.id})`);
      if (TIMEOUT_CODES.has(code)) throw new GatewayTimeoutException(`the ${service} service did not answer in time`);
      throw new ServiceUnavailableException(`the ${service} service is unavailable`);
    }

    void reply.status(response.statusCode);
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined && !NOT_FORWARDED.has(name)) void reply.header(name, value);
    }
    await reply.send(response.body);
  }

  async onModuleDestroy(): Promise<void> {
    await this.agent.close();
  }
}
