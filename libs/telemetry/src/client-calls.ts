import { subscribe } from 'node:diagnostics_channel';
import {
  type Attributes,
  context,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { globalErrorHandler } from '@opentelemetry/core';
import type { Histogram } from 'prom-client';
import { methodLabel } from './http-server-telemetry.js';
import { exemplarOf, TRACER_NAME } from './spans.js';

/** The header names a call's own propagation replaces (the gateway forwards its client's headers). */
export const PROPAGATION_HEADERS: ReadonlySet<string> = new Set(['traceparent', 'tracestate', 'baggage']);
/** Methods the undici instrumentation names its spans by (`_OTHER` / `HTTP` for any other). */
const SPAN_METHODS = new Set([
  'CONNECT',
  'OPTIONS',
  'HEAD',
  'GET',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'TRACE',
  'QUERY',
]);
/**
 * A path that `new URL(path, origin)` leaves exactly as it is: no character it would percent-encode, no
 * `//` start, no `%` before the query (`%2e` can make a dot segment), no dot segment (checked apart), no
 * empty query. Any other path has its URL attributes worked out by `URL`.
 */
const PLAIN_PATH = /^\/(?!\/)[\w\-.~!$&()*+,;=:@/]*(?:\?[\w\-.~!$&()*+,;=:@/%?]+)?$/;

interface OriginAttributes {
  readonly scheme: string;
  readonly address: string;
  readonly port: number | undefined;
}
const origins = new Map<string, OriginAttributes>();

function originAttributes(origin: string): OriginAttributes {
  let known = origins.get(origin);
  if (!known) {
    const url = new URL(origin);
    const scheme = url.protocol.replace(':', '');
    const port = url.port || (scheme === 'https' ? '443' : scheme === 'http' ? '80' : '');
    known = { scheme, address: url.hostname, port: port ? Number(port) : undefined };
    if (origins.size < 256) origins.set(origin, known);
  }
  return known;
}

/** `url.full`, `url.path` and `url.query` as the undici instrumentation sets them (it parses a `URL`). */
function urlAttributes(origin: string, path: string): { full: string; path: string; query: string } {
  if (PLAIN_PATH.test(path) && !path.includes('/.')) {
    const mark = path.indexOf('?');
    return {
      full: origin + path,
      path: mark < 0 ? path : path.slice(0, mark),
      query: mark < 0 ? '' : path.slice(mark),
    };
  }
  const url = new URL(path, origin);
  return { full: url.toString(), path: url.pathname, query: url.search };
}

/** The call being dispatched right now: undici creates its request synchronously inside the dispatch. */
let dispatching: ClientCall | undefined = undefined;
/** Requests of calls in flight, for the socket undici reports when it writes them. */
const byRequest = new WeakMap<object, ClientCall>();
let subscribed = false;

/**
 * Whether undici's request being created is a call of the lab's HTTP client, which makes its client span
 * and measures it itself: the undici instrumentation (its `ignoreRequestHook`) and {@link HttpClientMetrics}
 * leave such a request alone, so that every call has exactly one span and one observation.
 */
export function isLabClientCall(): boolean {
  return dispatching !== undefined;
}

function dispatchAs(call: ClientCall, send: () => void): void {
  dispatching = call;
  try {
    send();
  } finally {
    dispatching = undefined;
  }
}

function subscribeOnce(): void {
  if (subscribed) return;
  subscribed = true;
  subscribe('undici:request:create', (message) => {
    if (!dispatching) return;
    dispatching.live = true;
    byRequest.set((message as { request: object }).request, dispatching);
  });
  subscribe('undici:client:sendHeaders', (message) => {
    const { request, socket } = message as {
      request: object;
      socket: { remoteAddress?: string; remotePort?: number; alpnProtocol?: unknown };
    };
    const call = byRequest.get(request);
    if (!call) return;
    byRequest.delete(request);
    call.sentOn(socket);
  });
}

export interface ClientCallStart {
  /** The lab's name of the service called (`peer_service`). */
  readonly peer: string;
  readonly method: string;
  readonly origin: string;
  /** Path and query as dispatched. */
  readonly path: string;
  /** The call's headers: the caller's propagation headers are replaced by the call's own. */
  readonly headers: Record<string, string | string[]>;
  /** `http_client_request_duration_seconds`: see `httpClientDuration`. */
  readonly duration: Histogram<'peer_service' | 'method' | 'status_code'>;
}

/**
 * The client span and duration of one call of the lab's HTTP client (libs/http-client), made here
 * rather than by the undici instrumentation: the same span (name, kind, attributes, status, exception,
 * propagation) and the same `http_client_request_duration_seconds` observation with its exemplar, without
 * parsing a `URL` per call, a map of every header, an object to inject into or a `traceparent` to parse
 * back. The span's attributes and status are set, the span ends and the duration is recorded after the
 * caller has had its answer (in the next check phase, with the times taken when they happened), neither
 * on the way to the upstream nor on the path of the answer.
 *
 * The caller dispatches the call inside {@link ClientCall.dispatch}. A request undici does not create
 * there records nothing here: one it refuses (an invalid header: no span, as before) and one it queues
 * (every connection to the upstream busy), which the undici instrumentation and `HttpClientMetrics` see
 * when it is created, as any other caller's request.
 */
export class ClientCall {
  /** @internal undici created its request inside {@link dispatch}, and the call has not finished. */
  live = false;
  readonly span: Span;
  private readonly peer: string;
  private readonly method: string;
  private readonly spanMethod: string;
  private readonly origin: string;
  private readonly path: string;
  private readonly userAgent: string | undefined;
  private readonly duration: ClientCallStart['duration'];
  private status = 'error';
  private startedAt = 0;
  private answeredAt = 0;
  private endedAt = 0;
  private network: Attributes | undefined = undefined;
  private statusCode: number | undefined = undefined;
  private error: Error | undefined = undefined;

  constructor(start: ClientCallStart) {
    subscribeOnce();
    const { method, origin, path, headers } = start;
    this.peer = start.peer;
    this.method = method;
    this.origin = origin;
    this.path = path;
    this.duration = start.duration;
    this.spanMethod = SPAN_METHODS.has(method.toUpperCase()) ? method.toUpperCase() : '_OTHER';
    let userAgent: string | string[] | undefined;
    let forwarded = false;
    for (const name in headers) {
      const lower = name.toLowerCase();
      if (lower === 'user-agent') userAgent = headers[name];
      else if (PROPAGATION_HEADERS.has(lower)) forwarded = true;
    }
    this.userAgent = typeof userAgent === 'string' ? userAgent : userAgent?.[userAgent.length - 1];
    const active = context.active();
    // The attributes are set when the span ends (see record), not on the way to the upstream.
    this.span = trace
      .getTracer(TRACER_NAME)
      .startSpan(this.spanMethod === '_OTHER' ? 'HTTP' : this.spanMethod, { kind: SpanKind.CLIENT }, active);
    if (!trace.isSpanContextValid(this.span.spanContext())) return;
    if (forwarded) {
      for (const name in headers) if (PROPAGATION_HEADERS.has(name.toLowerCase())) delete headers[name];
    }
    propagation.inject(trace.setSpan(active, this.span), headers);
  }

  /** Runs undici's dispatch of this call (see the class's comment for a request undici queues). */
  dispatch(send: () => void): void {
    this.startedAt = performance.now();
    dispatchAs(this, send);
  }

  /** @internal undici wrote the request on `socket`. */
  sentOn(socket: { remoteAddress?: string; remotePort?: number; alpnProtocol?: unknown }): void {
    this.network = {
      'network.peer.address': socket.remoteAddress,
      'network.peer.port': socket.remotePort,
      'network.protocol.version': socket.alpnProtocol === 'h2' ? '2' : '1.1',
    };
  }

  /** The answer's status and headers are in. */
  answered(statusCode: number): void {
    if (!this.live) return;
    this.status = String(statusCode);
    this.statusCode = statusCode;
    this.answeredAt = performance.now();
  }

  /** The answer is complete. */
  ended(): void {
    if (!this.live) return;
    this.finish(performance.now());
  }

  /** No answer came, or its body broke off. */
  failed(error: Error): void {
    if (!this.live) return;
    this.error = error;
    this.finish(performance.now());
  }

  private finish(endedAt: number): void {
    this.live = false;
    this.endedAt = endedAt;
    if (ending.push(this) === 1) setImmediate(endAll);
  }

  /**
   * @internal Sets the span's attributes and status, ends it and records the duration, with the times
   * taken when they happened: the same span as one written as the call went, after the caller has its answer.
   */
  record(): void {
    const span = this.span;
    if (span.isRecording()) {
      span.setAttributes(this.requestAttributes());
      if (this.network) span.setAttributes(this.network);
      if (this.statusCode !== undefined) {
        const isError = this.statusCode >= 400;
        const attributes: Attributes = { 'http.response.status_code': this.statusCode };
        if (isError) attributes['error.type'] = String(this.statusCode);
        span.setAttributes(attributes);
        span.setStatus({ code: isError ? SpanStatusCode.ERROR : SpanStatusCode.UNSET });
      }
      const error = this.error;
      const isAbort =
        error !== undefined &&
        (error.name === 'AbortError' ||
          (error instanceof DOMException && error.code === DOMException.ABORT_ERR));
      if (error !== undefined && !isAbort) {
        span.setAttribute('error.type', String((error as { code?: unknown }).code || error.name || 'Error'));
        span.recordException(error, this.endedAt);
        span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      }
    }
    span.end(this.endedAt);
    // Until the answer's headers, as the histogram says; "error" when none came.
    const until = this.answeredAt || this.endedAt;
    this.duration.observe({
      value: (until - this.startedAt) / 1000,
      labels: { peer_service: this.peer, method: methodLabel(this.method), status_code: this.status },
      exemplarLabels: exemplarOf(span.spanContext()),
    });
  }

  /** What the undici instrumentation sets when it starts its span, in its order. */
  private requestAttributes(): Attributes {
    const where = originAttributes(this.origin);
    const url = urlAttributes(this.origin, this.path);
    const attributes: Attributes = {
      'http.request.method': this.spanMethod,
      'http.request.method_original': this.method,
      'url.full': url.full,
      'url.path': url.path,
      'url.query': url.query,
      'url.scheme': where.scheme,
      'server.address': where.address,
    };
    if (where.port !== undefined) attributes['server.port'] = where.port;
    if (this.userAgent !== undefined) attributes['user_agent.original'] = this.userAgent;
    return attributes;
  }
}

/** Calls finished in this turn of the event loop, recorded in its check phase (one `setImmediate` for all). */
let ending: ClientCall[] = [];

function endAll(): void {
  const calls = ending;
  ending = [];
  for (const call of calls) {
    // One call's failure (a span processor's or the histogram's) must not cost the others their record.
    try {
      call.record();
    } catch (error) {
      globalErrorHandler(error instanceof Error ? error : String(error));
    }
  }
}
