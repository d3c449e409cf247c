import { isSpanContextValid, trace } from '@opentelemetry/api';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { LabLogger } from './lab-logger.js';
import { type RequestContext, runWithRequestContext } from './request-context.js';

/** Routes polled by probes and scrapers: logged only when they fail. */
const QUIET_ROUTE = /^\/(health(\/.*)?|metrics)$/;

const installed = new WeakSet<FastifyInstance>();

/**
 * Makes the request context (`request_id`, the server span's ids) visible to every log line written
 * while serving a request, and writes one access record per response.
 */
export function installRequestLogging(fastify: FastifyInstance, logger: LabLogger): void {
  if (installed.has(fastify)) return;
  installed.add(fastify);
  const contexts = new WeakMap<FastifyRequest, RequestContext>();

  fastify.addHook('onRequest', (request, _reply, done) => {
    // The HTTP instrumentation's server span is active here, but may not be in onResponse.
    const span = trace.getActiveSpan()?.spanContext();
    const context: RequestContext = {
      requestId: request.id,
      ...(span && isSpanContextValid(span) && { traceId: span.traceId, spanId: span.spanId }),
    };
    contexts.set(request, context);
    // Everything after this hook runs inside the context, across awaits; Fastify 5 resumes after
    // reading the body in the context the body parser was started from (an AsyncResource).
    runWithRequestContext(context, done);
  });

  fastify.addHook('onResponse', (request, reply, done) => {
    try {
      writeAccessRecord(logger, request, reply, contexts.get(request));
    } finally {
      done();
    }
  });
}

function writeAccessRecord(
  logger: LabLogger,
  request: FastifyRequest,
  reply: FastifyReply,
  context: RequestContext | undefined,
): void {
  const route = request.routeOptions.url ?? 'unmatched';
  const status = reply.statusCode;
  if (status < 400 && QUIET_ROUTE.test(route)) return;
  const userId = userIdOf(request);
  logger.access(status >= 500 ? 'error' : 'info', {
    'http.method': request.method,
    'http.route': route,
    'http.status_code': status,
    'url.path': request.url.split('?', 1)[0],
    duration_ms: Math.round(reply.elapsedTime * 100) / 100,
    'client.address': request.ip,
    request_id: request.id,
    ...(userId !== undefined && { user_id: userId }),
    ...(context?.traceId && { trace_id: context.traceId, span_id: context.spanId }),
  });
}

/** `request.user.subject`, set by the auth guard on authenticated routes. */
function userIdOf(request: FastifyRequest): string | undefined {
  const user: unknown = Reflect.get(request, 'user');
  if (typeof user !== 'object' || user === null) return undefined;
  const subject: unknown = Reflect.get(user, 'subject');
  return typeof subject === 'string' ? subject : undefined;
}
