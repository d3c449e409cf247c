import { Inject, Injectable } from '@nestjs/common';
import {
  type Attributes,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from '@opentelemetry/semantic-conventions';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { ROUTE_KEY } from './handler-spans.js';
import { Metrics } from './metrics.js';
import { exemplarOf, LAB_TRACER } from './spans.js';

export const HTTP_SERVER_DURATION = 'http_server_request_duration_seconds';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE']);

/** Label values only from fixed sets and route templates: never a raw path, so one series per route. */
export function methodLabel(method: string): string {
  return METHODS.has(method) ? method : '_OTHER';
}

/** Probes and scrapes: frequent, uninteresting, and they would drown the traces that matter. */
const UNTRACED_PATHS = /^\/(health\/|metrics(?:[/?]|$))/;

export function isUntracedPath(url: string | undefined): boolean {
  return url !== undefined && UNTRACED_PATHS.test(url);
}

interface InFlight {
  /** `performance.now()` at `onRequest`. */
  readonly started: number;
  readonly span: Span | undefined;
  /** The route template, read once. */
  readonly route: string | undefined;
  /**
   * The peer's address, read at `onRequest` for a recording span: by the time a request is aborted the socket
   * may be closed, and an address nothing read before is gone with it.
   */
  readonly clientAddress: string | undefined;
  finished: boolean;
}

/**
 * The HTTP server side of a service, in Fastify hooks: a SERVER span per request (`GET /orders/:id`,
 * continuing the caller's `traceparent`, OpenTelemetry's HTTP attributes, ERROR on 5xx), and
 * `http_server_request_duration_seconds{method, route, status_code}` with an exemplar of that span.
 * Hooks see what never reaches a handler too (404, 413, 401 from a guard, 429). Health probes and
 * scrapes are not traced; `/metrics` is not measured.
 *
 * The rest of the request (body parsing included, guards, the handler) runs inside the server span's
 * context, entered once in `onRequest`. Measured on a hello endpoint, the HTTP instrumentation's server
 * spans halved throughput (it rebinds every request's and response's event emitters); these cost
 * about a quarter.
 */
@Injectable()
export class HttpServerTelemetry {
  private readonly duration;
  private readonly inFlight = new WeakMap<FastifyRequest, InFlight>();
  private readonly installedOn = new WeakSet<FastifyInstance>();

  constructor(
    metrics: Metrics,
    @Inject(LAB_TRACER) private readonly tracer: Tracer,
  ) {
    this.duration = metrics.durationHistogram({
      name: HTTP_SERVER_DURATION,
      help: 'Duration of HTTP requests served, by route template.',
      labelNames: ['method', 'route', 'status_code'],
    });
  }

  /**
   * Adds the hooks to a Fastify instance (once). Called by `ObservabilityModule.setup()` before the
   * logging lib's hooks, whose `onRequest` reads the server span's ids.
   */
  install(fastify: FastifyInstance): void {
    if (this.installedOn.has(fastify)) return;
    this.installedOn.add(fastify);
    fastify.addHook('onRequest', (request, _reply, done) => this.onRequest(request, done));
    fastify.addHook('onResponse', (request, reply, done) => this.onResponse(request, reply, done));
    fastify.addHook('onRequestAbort', (request, done) => this.onAbort(request, done));
  }

  private onRequest(request: FastifyRequest, done: HookHandlerDoneFunction): void {
    if (isUntracedPath(request.url)) {
      const quiet = suppressTracing(context.active());
      const route = request.routeOptions.url;
      this.inFlight.set(request, {
        started: performance.now(),
        span: undefined,
        route,
        clientAddress: undefined,
        finished: false,
      });
      context.with(quiet, done);
      return;
    }
    const started = performance.now();
    const route = request.routeOptions.url;
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    const span = this.tracer.startSpan(
      route ? `${request.method} ${route}` : request.method,
      { kind: SpanKind.SERVER },
      parent,
    );
    // Its attributes are set when it ends (onResponse, onAbort), not on the way to the handler: nothing
    // reads them before. All but the peer's address, which a closed socket no longer gives.
    const clientAddress = span.isRecording() ? request.ip : undefined;
    const active = route
      ? trace.setSpan(parent, span).setValue(ROUTE_KEY, route)
      : trace.setSpan(parent, span);
    this.inFlight.set(request, { started, span, route, clientAddress, finished: false });
    context.with(active, done);
  }

  private onResponse(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const inFlight = this.finish(request);
    const status = reply.statusCode;
    if (inFlight?.span) {
      const { span } = inFlight;
      if (span.isRecording()) {
        const attributes = requestAttributes(request, inFlight);
        attributes[ATTR_HTTP_RESPONSE_STATUS_CODE] = status;
        span.setAttributes(attributes);
      }
      if (status >= 500) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        span.setAttribute(ATTR_ERROR_TYPE, String(status));
      }
      span.end();
    }
    if (inFlight) this.observe(request, String(status), inFlight);
    done();
  }

  /** The client went away before the answer: the request still counts, as `status_code="aborted"`. */
  private onAbort(request: FastifyRequest, done: HookHandlerDoneFunction): void {
    const inFlight = this.finish(request);
    if (inFlight?.span) {
      const { span } = inFlight;
      if (span.isRecording()) span.setAttributes(requestAttributes(request, inFlight));
      span.setAttribute(ATTR_ERROR_TYPE, 'aborted');
      span.end();
    }
    if (inFlight) this.observe(request, 'aborted', inFlight);
    done();
  }

  private finish(request: FastifyRequest): InFlight | undefined {
    const inFlight = this.inFlight.get(request);
    if (!inFlight || inFlight.finished) return undefined;
    inFlight.finished = true;
    return inFlight;
  }

  private observe(request: FastifyRequest, status: string, inFlight: InFlight): void {
    const route = inFlight.route ?? 'unmatched';
    if (route === '/metrics') return;
    this.duration.observe({
      value: (performance.now() - inFlight.started) / 1000,
      labels: { method: methodLabel(request.method), route, status_code: status },
      exemplarLabels: exemplarOf(inFlight.span?.spanContext()),
    });
  }
}

function requestAttributes(request: FastifyRequest, { route, clientAddress }: InFlight): Attributes {
  const query = request.url.indexOf('?');
  const attributes: Attributes = {
    [ATTR_HTTP_REQUEST_METHOD]: methodLabel(request.method),
    [ATTR_URL_PATH]: query === -1 ? request.url : request.url.slice(0, query),
    [ATTR_URL_SCHEME]: request.protocol,
    [ATTR_CLIENT_ADDRESS]: clientAddress,
  };
  if (route) attributes[ATTR_HTTP_ROUTE] = route;
  const userAgent = request.headers['user-agent'];
  if (userAgent) attributes[ATTR_USER_AGENT_ORIGINAL] = userAgent;
  return attributes;
}
