import {
  type Attributes,
  type Span,
  type SpanContext,
  SpanStatusCode,
  TraceFlags,
  trace,
} from '@opentelemetry/api';

/** The instrumentation scope of the lab's own spans (handlers and business operations). */
export const TRACER_NAME = 'observability-lab';

const tracer = trace.getTracer(TRACER_NAME);

/**
 * Runs `fn` in a new span that is active for everything it calls (database and HTTP calls become its
 * children). A thrown error is recorded on the span, which then has ERROR status, and rethrown.
 */
export function withSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      recordError(span, error, true);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Adds attributes to the active span (the handler's or a business span); a no-op without one. */
export function setSpanAttributes(attributes: Attributes): void {
  trace.getActiveSpan()?.setAttributes(attributes);
}

/** Trace and span id of the active span, for logs and error responses; undefined outside a trace. */
export function currentTraceContext(): { traceId: string; spanId: string } | undefined {
  const spanContext = trace.getActiveSpan()?.spanContext();
  return spanContext && trace.isSpanContextValid(spanContext)
    ? { traceId: spanContext.traceId, spanId: spanContext.spanId }
    : undefined;
}

/** Exemplar labels pointing at a sampled span (Prometheus → Jaeger); empty when there is none to point at. */
export function exemplarOf(spanContext: SpanContext | undefined): Record<string, string> {
  if (
    !spanContext ||
    !trace.isSpanContextValid(spanContext) ||
    !(spanContext.traceFlags & TraceFlags.SAMPLED)
  )
    return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}

/** Records an exception; the status becomes ERROR only when `isError` (server errors, failed operations). */
export function recordError(span: Span, error: unknown, isError: boolean): void {
  if (error instanceof Error) span.recordException(error);
  else span.recordException(String(error));
  if (isError) {
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: error instanceof Error ? error.message : String(error),
    });
  }
}
