import { createRequire } from 'node:module';
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { APP_CONFIG, type AppConfig, type ServiceName } from '#lab/config';
import { FaultInjection } from '#lab/faults';
import { currentRequestContext } from '#lab/logging';
import { ClientCall, httpClientDuration, Metrics } from '#lab/telemetry';
import { TraceService } from 'nestjs-otel';
import type { Agent as UndiciAgent, Dispatcher } from 'undici';
import { fullJitterDelay } from './backoff.js';
import { isDeliberateRefusal, UpstreamBreaker } from './circuit-breaker.js';
import { Deadlines } from './deadlines.js';
import { RequestError, UpstreamUnavailableError } from './errors.js';
import { HOP_BY_HOP_HEADERS } from './hop-by-hop.js';
import { ResilienceCounters, type RetryReason } from './resilience-metrics.js';
import { RetryBudget } from './retry-budget.js';
import { type RawResponse, UpstreamExchange } from './upstream-exchange.js';

// undici's agent alone (22 modules): the package's index loads 109 (fetch, WebSocket, mocks, caches, proxy
// agents), about 2 MB of heap in every service that calls another, for nothing the lab uses. The package has
// no exports map, so the path is reachable; the index would also add request()/stream() to the dispatcher's
// prototype, which the lab never calls (every call is a dispatch(): upstream-exchange.ts).
const Agent = createRequire(import.meta.url)('undici/lib/dispatcher/agent.js') as typeof UndiciAgent;

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

export interface CallOptions {
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as application/x-www-form-urlencoded. */
  form?: Record<string, string>;
  /** A bearer token for the Authorization header. */
  token?: string;
  headers?: Record<string, string>;
  /** Per attempt; default: the upstream's timeout (UPSTREAM_TIMEOUTS_MS, else UPSTREAM_TIMEOUT_MS). */
  timeoutMs?: number;
}

export interface UpstreamResponse<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON when the answer is JSON, else undefined. */
  body: T;
}

/**
 * How a caller abandons its call: an `AbortSignal` is one; anything with these members will do (the
 * gateway's is the client's connection, without an `AbortController` per request).
 */
export interface CallerSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** A request sent as given: headers and body untouched (what a proxy needs). */
export interface RawRequest {
  method: string;
  /**
   * Path and query on the upstream, starting with one `/` (anything else is refused as `invalid_request`),
   * already percent-encoded: it is sent as written (a byte outside 0x21–0xFF is refused).
   */
  path: string;
  /** Each attempt writes its own `traceparent` (and `tracestate`, `baggage`) into it, replacing the caller's. */
  headers: Record<string, string | string[]>;
  /** Bytes, held in memory so that a retry can send them again. */
  body?: Buffer | string;
  timeoutMs?: number;
  /** The caller's: when it aborts (the client went away), the call is abandoned as a {@link RequestError}. */
  signal?: CallerSignal;
  /**
   * `false`: past the upstream's circuit breaker, neither stopped by it nor counted (the fault switch,
   * which must reach a service whose faults opened the breaker).
   */
  breaker?: boolean;
}

const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);
/** What undici and Node throw for a request they will not send (a header or value they refuse): nothing reached the upstream. */
const REFUSED = new Set([
  'UND_ERR_NOT_SUPPORTED',
  'UND_ERR_INVALID_ARG',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'ERR_INVALID_ARG_TYPE',
  'ERR_INVALID_ARG_VALUE',
  'ERR_INVALID_CHAR',
  'ERR_INVALID_HTTP_TOKEN',
  'ERR_INVALID_URL',
]);
/** Methods safe to send twice (RFC 9110 §9.2.2); POST and PATCH never are. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
const RETRIED_STATUS: Readonly<Record<number, RetryReason>> = {
  500: 'status_500',
  502: 'status_502',
  503: 'status_503',
  504: 'status_504',
};
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Carries a deliberate 503 past the breaker (see `isDeliberateRefusal`). */
class DeliberateRefusal {
  constructor(readonly response: RawResponse) {}
}

interface Upstream {
  readonly breaker: UpstreamBreaker;
  readonly budget: RetryBudget;
  readonly origin: string;
  /** The path of the upstream's URL, if it has one (a service behind a path prefix), before every call's. */
  readonly pathPrefix: string;
  readonly timeoutMs: number;
}

/**
 * Every outgoing call of the lab, between services and from the gateway's proxy: pooled keep-alive
 * connections (undici), a timeout per upstream and attempt, retries of idempotent calls with capped
 * exponential backoff and full jitter within a retry budget, a circuit breaker per upstream, and the
 * fault hook (an upstream made unreachable on purpose fails like a real one).
 */
@Injectable()
export class ServiceClient implements OnModuleDestroy {
  private readonly logger = new Logger('HttpClient');
  private readonly agent: UndiciAgent;
  private readonly upstreams = new Map<ServiceName, Upstream>();
  private readonly deadlines = new Deadlines();
  private readonly unwatch: (() => void)[] = [];
  private readonly counters: ResilienceCounters;
  /** `http_client_request_duration_seconds`: every call's (see ClientCall), and those a fault fails. */
  private readonly duration;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly faults: FaultInjection,
    metrics: Metrics,
    private readonly traces: TraceService,
  ) {
    // Every upstream of the configuration has its series at 0 from the start, called yet or not.
    const peers = (Object.keys(config.urls) as ServiceName[]).filter((peer) => peer !== config.service);
    this.counters = new ResilienceCounters(metrics, peers);
    this.duration = httpClientDuration(metrics);
    const longest = Math.max(config.upstreamTimeoutMs, ...Object.values(config.upstreamTimeoutsMs));
    this.agent = new Agent({
      keepAliveTimeout: 30_000,
      connections: 256,
      connect: { timeout: Math.min(10_000, longest) },
    });
  }

  /** A JSON call: the body is read (parsed when it is JSON) before this resolves. */
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
    const response = await this.send(service, { method, path, headers, body, timeoutMs: options.timeoutMs });
    try {
      const isJson = String(response.headers['content-type'] ?? '').includes('json');
      const parsed: unknown = isJson
        ? await response.body.json()
        : await response.body.dump().then(() => undefined);
      return { status: response.status, headers: response.headers, body: parsed as T };
    } catch (error) {
      throw upstreamUnavailable(service, error);
    }
  }

  /**
   * Sends a request as given and resolves with the answer's status and headers, its body unread: read it
   * or `dump()` it, since an unread body holds its connection, with no timeout once past 64 KiB. Throws
   * {@link UpstreamUnavailableError} when no answer came (after any retries) or the breaker is open, and
   * {@link RequestError} when the request itself was refused or abandoned (never retried nor counted).
   */
  async send(service: ServiceName, raw: RawRequest): Promise<RawResponse> {
    const upstream = this.upstreams.get(service) ?? this.upstream(service);
    const retriable = IDEMPOTENT.has(raw.method);
    const { max, baseDelayMs, maxDelayMs } = this.config.retry;
    // Refused before the breaker sees it: not even a half-open trial is spent on a request that cannot go.
    const refused = refusedHeader(raw.headers);
    if (refused !== undefined) {
      this.counters.notCounted.inc({ upstream: service, reason: 'invalid_request' });
      throw new RequestError(service, 'invalid_request', 'HOP_BY_HOP_HEADER', `${refused} is never sent on`);
    }
    // Origin form only: an absolute-form target (`GET http://elsewhere/...`, which Fastify routes by its
    // path) would otherwise reach the upstream as its request line, authority included; `//host/...`
    // reads as an authority to a URL parser (the client span's url.full, the upstream's router).
    if (!raw.path.startsWith('/') || raw.path.startsWith('//')) {
      this.counters.notCounted.inc({ upstream: service, reason: 'invalid_request' });
      throw new RequestError(service, 'invalid_request', 'NOT_ORIGIN_FORM', 'the path must start with /');
    }
    upstream.budget.recordRequest();
    // A deliberate 503 leaves the breaker as a value it does not handle, so it is counted neither way.
    const call = async () => {
      const answer = await this.attempt(service, upstream, raw);
      if (isDeliberateRefusal(answer)) throw new DeliberateRefusal(answer);
      return answer;
    };
    for (let retry = 0; ; retry++) {
      let response: RawResponse | undefined;
      let failure: UpstreamUnavailableError | undefined;
      try {
        response = await (raw.breaker === false ? call() : upstream.breaker.execute(call));
      } catch (error) {
        if (error instanceof DeliberateRefusal) {
          this.counters.notCounted.inc({ upstream: service, reason: 'deliberate_503' });
          return error.response;
        }
        if (error instanceof RequestError) {
          this.counters.notCounted.inc({ upstream: service, reason: error.reason });
          throw error;
        }
        if (!(error instanceof UpstreamUnavailableError) || error.reason === 'circuit_open') throw error;
        failure = error;
      }
      const reason: RetryReason | undefined = failure
        ? (failure.reason as RetryReason)
        : response && retryReasonOf(response);
      if (reason === undefined) return response as RawResponse;
      if (!retriable || retry >= max) {
        if (failure) throw failure;
        return response as RawResponse;
      }
      if (!upstream.budget.tryRetry()) {
        this.counters.refused.inc({ peer_service: service });
        this.traces
          .getSpan()
          ?.addEvent('http.retry_refused', { 'peer.service': service, 'http.retry.reason': reason });
        if (failure) throw failure;
        return response as RawResponse;
      }
      // The failed answer is not passed on: read it off the connection so it can be reused.
      if (response) await response.body.dump().catch(() => undefined);
      this.counters.retries.inc({ peer_service: service, reason });
      this.traces.getSpan()?.addEvent('http.retry', {
        'peer.service': service,
        'http.retry.attempt': retry + 1,
        'http.retry.reason': reason,
      });
      this.logger.debug(`${raw.method} ${raw.path} → ${service}: retry ${retry + 1} after ${reason}`);
      await sleep(fullJitterDelay(retry, baseDelayMs, maxDelayMs));
    }
  }

  /** The breaker's state for an upstream ('closed' before any call). */
  breakerState(service: ServiceName): 'closed' | 'open' | 'half_open' {
    return this.upstreams.get(service)?.breaker.stateName() ?? 'closed';
  }

  private async attempt(service: ServiceName, upstream: Upstream, raw: RawRequest): Promise<RawResponse> {
    if (raw.signal?.aborted) throw new RequestError(service, 'caller_aborted', 'CALLER_ABORTED');
    if (this.faults.isUnreachable(service)) {
      // A failed call like a real unreachable upstream's, in the callers' "failed calls" series too.
      this.duration.observe({
        value: 0,
        labels: { peer_service: service, method: raw.method, status_code: 'error' },
      });
      throw new UpstreamUnavailableError(service, 'unreachable', 'FAULT_INJECTED');
    }
    const timeoutMs = raw.timeoutMs ?? upstream.timeoutMs;
    // Dispatched straight to the agent with a handler of its own: no URL to parse, no `request()`
    // body stream and promise layers on every forwarded request (see upstream-exchange.ts).
    const path = upstream.pathPrefix ? `${upstream.pathPrefix}${raw.path}` : raw.path;
    // Its client span and duration (the undici instrumentation leaves the lab's own calls alone).
    const call = new ClientCall({
      peer: service,
      method: raw.method,
      origin: upstream.origin,
      path,
      headers: raw.headers,
      duration: this.duration,
    });
    const exchange = new UpstreamExchange(call);
    // undici's own headers timeout ticks every ~0.5 s (its fast timers): a 100 ms timeout would fire
    // anywhere up to a second. A deadline until the headers are in is exact; the body keeps undici's.
    let timedOut = false;
    const deadline = this.deadlines.add(timeoutMs, () => {
      timedOut = true;
      exchange.abandon(new Error('timed out'));
    });
    const abandon = () => exchange.abandon(new Error('abandoned by the caller'));
    raw.signal?.addEventListener('abort', abandon, { once: true });
    try {
      call.dispatch(() =>
        this.agent.dispatch(
          {
            origin: upstream.origin,
            path,
            method: raw.method as Dispatcher.HttpMethod,
            headers: raw.headers,
            body: raw.body,
            // A backstop only: its coarse timer may fire up to ~0.5 s early or late.
            headersTimeout: timeoutMs + 1000,
            bodyTimeout: timeoutMs,
          },
          exchange,
        ),
      );
      return await exchange.answer;
    } catch (error) {
      if (timedOut) throw new UpstreamUnavailableError(service, 'timeout', 'UND_ERR_HEADERS_TIMEOUT');
      if (raw.signal?.aborted) throw new RequestError(service, 'caller_aborted', 'CALLER_ABORTED');
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'string' && REFUSED.has(code)) {
        throw new RequestError(
          service,
          'invalid_request',
          code,
          error instanceof Error ? error.message : undefined,
        );
      }
      throw upstreamUnavailable(service, error);
    } finally {
      deadline.cancel();
      raw.signal?.removeEventListener('abort', abandon);
    }
  }

  private upstream(service: ServiceName): Upstream {
    const { config } = this;
    const breaker = new UpstreamBreaker(
      service,
      config.breaker,
      this.logger,
      () => this.counters.rejected.inc({ upstream: service }),
      this.traces,
    );
    const upstream: Upstream = {
      breaker,
      budget: new RetryBudget(config.retry.budgetRatio, config.retry.budgetMinRetries),
      origin: new URL(config.urls[service]).origin,
      pathPrefix: new URL(config.urls[service]).pathname.replace(/\/+$/, ''),
      timeoutMs: config.upstreamTimeoutsMs[service] ?? config.upstreamTimeoutMs,
    };
    this.upstreams.set(service, upstream);
    this.unwatch.push(this.counters.watchBreaker(breaker));
    return upstream;
  }

  async onModuleDestroy(): Promise<void> {
    for (const unwatch of this.unwatch) unwatch();
    await this.agent.close();
  }
}

/**
 * 500, 502, 503 and 504 are retried (idempotent requests only), unless the upstream said when to come
 * back (`Retry-After`). A 500 may well be a bug that fails again: the retry budget bounds what that costs.
 */
function retryReasonOf(response: RawResponse): RetryReason | undefined {
  const reason = RETRIED_STATUS[response.status];
  return reason && response.headers['retry-after'] === undefined ? reason : undefined;
}

/**
 * A connection-level header (`expect`, `transfer-encoding`, `connection`, …) in a request: undici would
 * refuse some of them, and none may cross a hop. A caller passing one on made a mistake of its own.
 */
function refusedHeader(headers: RawRequest['headers']): string | undefined {
  for (const name in headers) {
    const lower = name.toLowerCase();
    if (HOP_BY_HOP_HEADERS.has(lower) && lower !== 'host') return lower;
  }
  return undefined;
}

/** An undici failure as the service's unavailability: a timeout for undici's timeout codes, else unreachable. */
export function upstreamUnavailable(service: ServiceName, error: unknown): UpstreamUnavailableError {
  if (error instanceof UpstreamUnavailableError) return error;
  const code = (error as { code?: string }).code ?? (error instanceof Error ? error.name : 'unknown');
  return new UpstreamUnavailableError(service, TIMEOUTS.has(code) ? 'timeout' : 'unreachable', code);
}
