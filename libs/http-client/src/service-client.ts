import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { APP_CONFIG, type AppConfig, type ServiceName } from '#lab/config';
import { currentRequestContext } from '#lab/logging';
import { Agent, request } from 'undici';

/** A call that got no HTTP answer: the service was unreachable or too slow. */
export class UpstreamUnavailableError extends Error {
  constructor(
    readonly service: ServiceName,
    readonly reason: 'timeout' | 'unreachable',
    readonly code: string,
  ) {
    super(`the ${service} service is ${reason === 'timeout' ? 'not answering in time' : 'unreachable'} (${code})`);
    this.name = 'UpstreamUnavailableError';
  }
}

export interface CallOptions {
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as application/x-www-form-urlencoded. */
  form?: Record<string, string>;
  /** A bearer token for the Authorization header. */
  token?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export interface UpstreamResponse<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON when the answer is JSON, else undefined. */
  body: T;
}

const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** Calls between services: pooled keep-alive connections (undici), JSON in and out, a timeout per call. */
@Injectable()
export class ServiceClient implements OnModuleDestroy {
  private readonly agent = new Agent({ keepAliveTimeout: 30_000, connections: 128 });

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async call<T = unknown>(
    service: ServiceName,
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    options: CallOptions = {},
  ): Promise<UpstreamResponse<T>> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    let body: string | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(options.form).toString();
    }
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    // The request being served keeps its id on every hop, so one `request_id` finds all its logs.
    const requestId = currentRequestContext()?.requestId;
    if (requestId && headers['x-request-id'] === undefined) headers['x-request-id'] = requestId;
    const timeout = options.timeoutMs ?? this.config.upstreamTimeoutMs;
    try {
      const response = await request(`${this.config.urls[service]}${path}`, {
        method,
        headers,
        body,
        dispatcher: this.agent,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      const isJson = String(response.headers['content-type'] ?? '').includes('json');
      const parsed: unknown = isJson ? await response.body.json() : await response.body.text().then(() => undefined);
      return { status: response.statusCode, headers: response.headers, body: parsed as T };
    } catch (error) {
      const code = (error as { code?: string }).code ?? (error instanceof Error ? error.name : 'unknown');
      throw new UpstreamUnavailableError(service, TIMEOUTS.has(code) ? 'timeout' : 'unreachable', code);
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.agent.close();
  }
}
