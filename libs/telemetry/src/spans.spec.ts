import { SpanStatusCode, trace } from '@opentelemetry/api';
import { beforeEach, describe, expect, it } from 'vitest';
import { useInMemoryTracing } from '../test/in-memory-tracing.js';
import { currentTraceContext, exemplarOf, setSpanAttributes, withSpan } from './spans.js';

const tracing = useInMemoryTracing();

describe(withSpan.name, () => {
  beforeEach(() => tracing.exporter.reset());

  it('runs the work in an active span with its attributes, parent of the spans started inside', async () => {
    const result = await withSpan('order.create', { 'order.line_count': 2 }, async (span) => {
      setSpanAttributes({ 'order.id': 'o-1' });
      trace.getTracer('test').startSpan('inner').end();
      return span.spanContext().traceId;
    });
    const [outer] = tracing.spans('order.create');
    expect(outer.attributes).toEqual({ 'order.line_count': 2, 'order.id': 'o-1' });
    expect(outer.status.code).toBe(SpanStatusCode.UNSET);
    expect(tracing.spans('inner')[0].parentSpanContext?.spanId).toBe(outer.spanContext().spanId);
    expect(result).toBe(outer.spanContext().traceId);
  });

  it('records a thrown error on the span, sets ERROR and rethrows it', async () => {
    await expect(
      withSpan('stock.reserve', {}, () => Promise.reject(new RangeError('out of stock'))),
    ).rejects.toThrow('out of stock');
    const [span] = tracing.spans('stock.reserve');
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'out of stock' });
    expect(span.events.map((event) => [event.name, event.attributes?.['exception.type']])).toEqual([
      ['exception', 'RangeError'],
    ]);
    expect(span.ended).toBe(true);
  });
});

describe(currentTraceContext.name, () => {
  it('gives the ids of the active span, and nothing outside a trace', async () => {
    expect(currentTraceContext()).toBeUndefined();
    await withSpan('token.issue', {}, async (span) => {
      expect(currentTraceContext()).toEqual({
        traceId: span.spanContext().traceId,
        spanId: span.spanContext().spanId,
      });
    });
  });
});

describe(exemplarOf.name, () => {
  it('points at sampled spans only', () => {
    const sampled = { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 1 };
    expect(exemplarOf(sampled)).toEqual({ trace_id: 'a'.repeat(32), span_id: 'b'.repeat(16) });
    expect(exemplarOf({ ...sampled, traceFlags: 0 })).toEqual({});
    expect(exemplarOf(undefined)).toEqual({});
  });
});
