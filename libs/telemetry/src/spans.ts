import { type Span, type SpanContext, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';

/**
 * The instrumentation scope of the handler spans. Business spans are nestjs-otel's `@Span` (scope
 * `nestjs-otel`), their attributes and events set through its `TraceService`.
 */
export const TRACER_NAME = 'observability-lab';

/** Injection token of the tracer of the handler and server spans (`TRACER_NAME` on the preloaded SDK). */
export const LAB_TRACER = Symbol('LAB_TRACER');

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
