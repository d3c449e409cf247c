import { context, type Link, SpanKind, SpanStatusCode, trace, TraceFlags } from '@opentelemetry/api';
import {
  ExportResultCode,
  loggingErrorHandler,
  setGlobalErrorHandler,
  TraceState,
  type ExportResult,
} from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeOtlpTraces, startOtlpReceiver, type OtlpReceiver } from '#lab/testing';
import {
  type EncodedSpanExporter,
  EncodedSpans,
  EncodingSpanProcessor,
  otlpProtobufSpanExporter,
} from './encoding-span-processor.js';
import { decodeTraceResponse } from './otlp-span-encoding.js';

/** Ended spans of every shape the encoder handles, from two tracers (scopes) and two resources. */
function endedSpans(): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const providerOf = (attributes: Record<string, string | number>) =>
    new TracerProvider({
      resource: resourceFromAttributes(attributes),
      spanProcessors: [new SimpleSpanProcessor({ exporter: memory })],
    });
  const provider = providerOf({ 'service.name': 'order', 'process.pid': 4242, 'host.name': 'lab-ü' });
  const other = providerOf({ 'service.name': 'product' });
  const lab = provider.getTracer('observability-lab');
  const driver = provider.getTracer('@opentelemetry/instrumentation-mongodb', '0.77.0', {
    schemaUrl: 'https://opentelemetry.io/schemas/1.30.0',
  });
  const remote = trace.setSpanContext(context.active(), {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'B7AD6B7169203331',
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
    traceState: new TraceState('vendor=value,other=1'),
  });
  const server = lab.startSpan(
    'POST /orders',
    { kind: SpanKind.SERVER, startTime: [1_796_000_000, 999_999_999] },
    remote,
  );
  server.setAttributes({
    'http.request.method': 'POST',
    'http.response.status_code': 201,
    'url.path': '/orders/ünïcode/😀',
    'lab.lone_surrogate': 'a\ud800b',
    'lab.ratio': 0.25,
    'lab.negative': -7,
    'lab.large': 2 ** 40 + 3,
    'lab.not_a_number': Number.NaN,
    'lab.flag': false,
    'lab.strings': ['a', 'b'],
    'lab.numbers': [1, 2.5, -3],
    'lab.with_gaps': [null, 'x', undefined],
    'lab.empty': '',
    'lab.just_short': 'y'.repeat(127),
    'lab.long': `${'x'.repeat(300)}é`,
    'lab.long_ascii': 'z'.repeat(128),
  });
  server.addEvent(
    'exception',
    { 'exception.message': 'boom', 'exception.type': 'Error' },
    [1_796_000_001, 5],
  );
  server.addEvent('plain');
  const inner = trace.setSpan(context.active(), server);
  const link: Link = {
    context: {
      traceId: 'a'.repeat(32),
      spanId: 'b'.repeat(16),
      traceFlags: TraceFlags.NONE,
      isRemote: false,
    },
    attributes: { 'link.kind': 'cause' },
  };
  const query = driver.startSpan(
    'mongodb.insert',
    {
      kind: SpanKind.CLIENT,
      links: [link],
      attributes: { 'db.query.text': '{"insert":"orders","documents":"?"}' },
    },
    inner,
  );
  query.setStatus({ code: SpanStatusCode.ERROR, message: 'E11000 duplicate key' });
  query.end();
  const internal = lab.startSpan('handler', { kind: SpanKind.INTERNAL }, inner);
  internal.setStatus({ code: SpanStatusCode.OK });
  internal.end();
  server.end([1_796_000_002, 1]);
  const elsewhere = other
    .getTracer('observability-lab')
    .startSpan('GET /products/:id', { kind: SpanKind.SERVER });
  elsewhere.end();
  lab.startSpan('after').end();
  return memory.getFinishedSpans();
}

describe(EncodedSpans.name, () => {
  it('builds the request the SDK serializer builds from the same spans, byte for byte', () => {
    const spans = endedSpans();
    const encoded = new EncodedSpans();
    for (const span of spans) encoded.add(span);
    expect(encoded.count).toBe(spans.length);
    const expected = ProtobufTraceSerializer.serializeRequest(spans);
    expect(Buffer.from(encoded.request()).toString('hex')).toBe(Buffer.from(expected ?? []).toString('hex'));
  });

  it('is read by an OTLP receiver as the spans that ended', () => {
    const spans = endedSpans();
    const encoded = new EncodedSpans();
    for (const span of spans) encoded.add(span);
    const received = decodeOtlpTraces('application/x-protobuf', Buffer.from(encoded.request()));
    const byId = (a: string[], b: string[]) => a[2].localeCompare(b[2]);
    expect(received.map((span) => [span.serviceName, span.name, span.spanId]).sort(byId)).toEqual(
      spans
        .map((span) => [
          String(span.resource.attributes['service.name']),
          span.name,
          span.spanContext().spanId,
        ])
        .sort(byId),
    );
    const server = received.find((span) => span.name === 'POST /orders');
    expect(server?.parentSpanId).toBe('b7ad6b7169203331');
    expect(server?.attributes['url.path']).toBe('/orders/ünïcode/😀');
    expect(server?.events.map((event) => event.name)).toEqual(['exception', 'plain']);
  });
});

describe('EncodedSpans given a span it cannot encode', () => {
  it('leaves that span out whole and the spans around it in a request the SDK would build from them', () => {
    const spans = endedSpans();
    const [broken] = spans.splice(2, 1);
    // A name that is not a string (a caller outside TypeScript): the encoder throws half-way through.
    Object.defineProperty(broken, 'name', { value: 42 });
    const encoded = new EncodedSpans();
    for (const span of spans.slice(0, 2)) encoded.add(span);
    expect(() => encoded.add(broken)).toThrow();
    for (const span of spans.slice(2)) encoded.add(span);
    expect(encoded.count).toBe(spans.length);
    expect(Buffer.from(encoded.request()).toString('hex')).toBe(
      Buffer.from(ProtobufTraceSerializer.serializeRequest(spans) ?? []).toString('hex'),
    );
  });
});

describe('EncodedSpans reused', () => {
  it('holds only the spans added since it was cleared, in the request the SDK would build from them', () => {
    const spans = endedSpans();
    const encoded = new EncodedSpans();
    for (const span of spans) encoded.add(span);
    encoded.request();
    encoded.clear();
    // Only spans of the second resource and one scope of the first: the other groups are left out.
    const later = spans.filter((span) => span.name === 'handler' || span.name === 'GET /products/:id');
    for (const span of later) encoded.add(span);
    expect(encoded.count).toBe(2);
    expect(Buffer.from(encoded.request()).toString('hex')).toBe(
      Buffer.from(ProtobufTraceSerializer.serializeRequest(later) ?? []).toString('hex'),
    );
  });
});

describe(decodeTraceResponse.name, () => {
  it("reads a collector's partial success, and nothing from an empty answer", () => {
    // partial_success { rejected_spans: 3, error_message: "too old" }, then an unknown field 9.
    const body = Buffer.from([0x0a, 0x0b, 0x08, 0x03, 0x12, 0x07, ...Buffer.from('too old'), 0x48, 0x01]);
    expect(decodeTraceResponse(body)).toEqual({
      partialSuccess: { rejectedSpans: 3, errorMessage: 'too old' },
    });
    expect(decodeTraceResponse(new Uint8Array(0))).toEqual({});
  });
});

/** Counts what reaches it and answers as told. */
class RecordingExporter implements EncodedSpanExporter {
  readonly batches: number[] = [];
  answer: ExportResult = { code: ExportResultCode.SUCCESS };
  shutdowns = 0;
  export(spans: EncodedSpans, done: (result: ExportResult) => void): void {
    this.batches.push(spans.count);
    setImmediate(() => done(this.answer));
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    this.shutdowns++;
    return Promise.resolve();
  }
}

describe(EncodingSpanProcessor.name, () => {
  const tracerWith = (processor: EncodingSpanProcessor) =>
    new TracerProvider({ spanProcessors: [processor] }).getTracer('spec');
  let receiver: OtlpReceiver | undefined;
  afterEach(async () => {
    await receiver?.stop();
    receiver = undefined;
    delete process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  });

  it('exports a full batch at once and the rest when flushed, every span once', async () => {
    const exporter = new RecordingExporter();
    const processor = new EncodingSpanProcessor({
      exporter,
      maxExportBatchSize: 4,
      scheduledDelayMillis: 60_000,
    });
    const tracer = tracerWith(processor);
    for (let i = 0; i < 10; i++) tracer.startSpan(`span ${i}`).end();
    await processor.forceFlush();
    expect(exporter.batches.reduce((sum, count) => sum + count, 0)).toBe(10);
    expect(exporter.batches.every((count) => count <= 4)).toBe(true);
  });

  it('keeps no more than the queue size waiting, and exports nothing once shut down', async () => {
    const exporter = new RecordingExporter();
    const processor = new EncodingSpanProcessor({
      exporter,
      maxQueueSize: 5,
      maxExportBatchSize: 5,
      scheduledDelayMillis: 60_000,
    });
    const tracer = tracerWith(processor);
    // The first five go out as a batch at once; while that export is under way five more wait.
    for (let i = 0; i < 12; i++) tracer.startSpan(`span ${i}`).end();
    await processor.shutdown();
    expect(exporter.batches).toEqual([5, 5]);
    expect(exporter.shutdowns).toBe(1);
    tracer.startSpan('late').end();
    await processor.forceFlush();
    expect(exporter.batches).toEqual([5, 5]);
  });

  it('throws nothing into the code that ends a span it cannot encode, and exports the others', async () => {
    const exporter = new RecordingExporter();
    const processor = new EncodingSpanProcessor({ exporter, scheduledDelayMillis: 60_000 });
    const errors: unknown[] = [];
    setGlobalErrorHandler((error) => errors.push(error));
    try {
      const tracer = tracerWith(processor);
      tracer.startSpan('before').end();
      expect(() => tracer.startSpan(42 as unknown as string).end()).not.toThrow();
      tracer.startSpan('after').end();
      await processor.forceFlush();
    } finally {
      setGlobalErrorHandler(loggingErrorHandler());
    }
    expect(exporter.batches).toEqual([2]);
    expect(errors).toHaveLength(1);
  });

  it('leaves out spans that are not sampled', async () => {
    const exporter = new RecordingExporter();
    const processor = new EncodingSpanProcessor({ exporter });
    const unsampled = trace.setSpanContext(context.active(), {
      traceId: 'c'.repeat(32),
      spanId: 'd'.repeat(16),
      traceFlags: TraceFlags.NONE,
    });
    tracerWith(processor).startSpan('dropped', {}, unsampled).end();
    await processor.forceFlush();
    expect(exporter.batches).toEqual([]);
  });

  it('reports a failed export to the caller of forceFlush', async () => {
    const exporter = new RecordingExporter();
    exporter.answer = { code: ExportResultCode.FAILED, error: new Error('collector down') };
    const processor = new EncodingSpanProcessor({ exporter });
    tracerWith(processor).startSpan('lost').end();
    await expect(processor.forceFlush()).rejects.toThrow('collector down');
  });

  it('sends its batches over OTLP http/protobuf to the configured endpoint', async () => {
    receiver = await startOtlpReceiver();
    process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = `${receiver.url}/v1/traces`;
    const processor = new EncodingSpanProcessor({ exporter: otlpProtobufSpanExporter() });
    const tracer = tracerWith(processor);
    for (let i = 0; i < 3; i++) tracer.startSpan(`sent ${i}`).end();
    await processor.forceFlush();
    expect(receiver.spans.map((span) => span.name).sort()).toEqual(['sent 0', 'sent 1', 'sent 2']);
    expect(receiver.contentTypes).toEqual(['application/x-protobuf']);
    // The next batch reuses the exported one's buffers: only its own spans go.
    for (let i = 3; i < 5; i++) tracer.startSpan(`sent ${i}`).end();
    await processor.forceFlush();
    expect(receiver.spans.map((span) => span.name).sort()).toEqual([
      'sent 0',
      'sent 1',
      'sent 2',
      'sent 3',
      'sent 4',
    ]);
    await processor.shutdown();
  });
});
