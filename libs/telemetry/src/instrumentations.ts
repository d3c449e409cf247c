import { type Span, trace } from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { AmqplibInstrumentation } from '@opentelemetry/instrumentation-amqplib';
import { MongoDBInstrumentation } from '@opentelemetry/instrumentation-mongodb';
import { UndiciInstrumentation, type UndiciRequest } from '@opentelemetry/instrumentation-undici';
import { isLabClientCall, PROPAGATION_HEADERS } from './client-calls.js';
import { maskedStatement } from './mongodb-statement.js';

/**
 * Removes propagation headers a caller already put on an outgoing request (the gateway forwards its
 * client's headers): the undici instrumentation appends its own, and two `traceparent` headers reach
 * the next service as one unparseable value, which breaks the trace there.
 */
export function dropPropagationHeaders(span: Span, request: Pick<UndiciRequest, 'headers'>): void {
  if (!trace.isSpanContextValid(span.spanContext())) return;
  const { headers } = request;
  if (Array.isArray(headers)) {
    for (let i = headers.length - 2; i >= 0; i -= 2) {
      const name = headers[i];
      if (typeof name === 'string' && PROPAGATION_HEADERS.has(name.toLowerCase())) headers.splice(i, 2);
    }
  } else if (typeof headers === 'string') {
    request.headers = headers
      .split('\r\n')
      .filter((line) => !PROPAGATION_HEADERS.has(line.slice(0, line.indexOf(':')).trim().toLowerCase()))
      .join('\r\n');
  }
}

/**
 * The only instrumentations the preload loads, since each one costs throughput on every request: undici
 * client spans for callers other than the lab's HTTP client, which makes its calls' spans itself
 * (`ClientCall`; the instrumentation leaves those requests alone and injects `traceparent` into the
 * others, e.g. the traffic generator's, or a call undici queued while every connection was busy), MongoDB
 * operations (the statement masked by `maskedStatement`, the library's text at less CPU), and amqplib (PRODUCER spans that inject `traceparent` into the order events' headers,
 * CONSUMER spans continuing that trace, ended when the message is acked or rejected). HTTP server spans and handler spans come from the TelemetryModule (Fastify hooks, wrapped
 * controller methods); nothing else of Node, Nest or Fastify is instrumented.
 */
export function labInstrumentations(): Instrumentation[] {
  return [
    // The lab's HTTP client makes its calls' client spans itself (ClientCall): any other undici caller's here.
    new UndiciInstrumentation({ requestHook: dropPropagationHeaders, ignoreRequestHook: isLabClientCall }),
    new MongoDBInstrumentation({ dbStatementSerializer: maskedStatement }),
    new AmqplibInstrumentation(),
  ];
}
