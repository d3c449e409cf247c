import { SpanStatusCode, trace } from '@opentelemetry/api';
import { beforeEach, describe, expect, it } from 'vitest';
import { useInMemoryTracing } from '../test/in-memory-tracing.js';
import { Span, TraceService } from 'nestjs-otel';
import { currentTraceContext, exemplarOf } from './spans.js';

const tracing = useInMemoryTracing();

/** A service as the apps write them: business spans with nestjs-otel's `@Span`, attributes through `TraceService`. */
class Orders {
  constructor(private readonly traces: TraceService) {}

  @Span('order.create', (lines: number) => ({ attributes: { 'order.line_count': lines } }))
  async create(_lines: number): Promise<string | undefined> {
    this.traces.getSpan()?.setAttributes({ 'order.id': 'o-1' });
    trace.getTracer('test').startSpan('inner').end();
    return currentTraceContext()?.traceId;
  }

  @Span('stock.reserve')
  async reserve(): Promise<never> {
    throw new RangeError('out of stock');
  }
}

describe('business spans (@Span and TraceService)', () => {
  const orders = new Orders(new TraceService());
  beforeEach(() => tracing.exporter.reset());

  it('runs the work in an active span with its attributes, parent of the spans started inside', async () => {
    const traceId = await orders.create(2);
    const [outer] = tracing.spans('order.create');
    expect(outer.attributes).toEqual({ 'order.line_count': 2, 'order.id': 'o-1' });
    expect(outer.status.code).toBe(SpanStatusCode.UNSET);
    expect(tracing.spans('inner')[0].parentSpanContext?.spanId).toBe(outer.spanContext().spanId);
    expect(traceId).toBe(outer.spanContext().traceId);
  });

  it('records a thrown error on the span, sets ERROR and rethrows it', async () => {
    await expect(orders.reserve()).rejects.toThrow('out of stock');
    const [span] = tracing.spans('stock.reserve');
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'out of stock' });
    expect(span.events.map((event) => [event.name, event.attributes?.['exception.type']])).toEqual([
      ['exception', 'RangeError'],
    ]);
    expect(span.ended).toBe(true);
  });
});

describe(currentTraceContext.name, () => {
  it('gives the ids of the active span, and nothing outside a trace', () => {
    expect(currentTraceContext()).toBeUndefined();
    trace.getTracer('test').startActiveSpan('token.issue', (span) => {
      expect(currentTraceContext()).toEqual({
        traceId: span.spanContext().traceId,
        spanId: span.spanContext().spanId,
      });
      span.end();
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
