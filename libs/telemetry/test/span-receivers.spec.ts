import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { type SpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReceivedSpan, type SpanReceiver, startOtlpReceiver, startZipkinReceiver } from '#lab/testing';

/** Sends a server span with a failed client child through a real exporter, as a service would. */
async function exportThrough(
  exporter: SpanExporter,
): Promise<{ traceId: string; serverId: string; clientId: string }> {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'receiver-test' }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer('test');
  const server = tracer.startSpan('GET /orders/:id', {
    kind: SpanKind.SERVER,
    attributes: {
      'http.route': '/orders/:id',
      'http.response.status_code': 502,
      ratio: 0.5,
      cached: false,
      tags: ['a', 'b'],
    },
  });
  const client = tracer.startSpan('GET', { kind: SpanKind.CLIENT }, trace.setSpan(ROOT_CONTEXT, server));
  client.recordException(new Error('connection reset'));
  client.setStatus({ code: SpanStatusCode.ERROR, message: 'connection reset' });
  client.end();
  server.end();
  await provider.shutdown();
  return {
    traceId: server.spanContext().traceId,
    serverId: server.spanContext().spanId,
    clientId: client.spanContext().spanId,
  };
}

describe('span receivers, fed by the real OpenTelemetry exporters', () => {
  let otlp: SpanReceiver;
  let zipkin: SpanReceiver;

  beforeAll(async () => {
    [otlp, zipkin] = await Promise.all([startOtlpReceiver(), startZipkinReceiver()]);
  });

  afterAll(() => Promise.all([otlp?.stop(), zipkin?.stop()]));

  const expectTrace = (
    spans: readonly ReceivedSpan[],
    ids: { traceId: string; serverId: string; clientId: string },
  ) => {
    const server = spans.find((s) => s.spanId === ids.serverId);
    const client = spans.find((s) => s.spanId === ids.clientId);
    expect(server).toMatchObject({
      traceId: ids.traceId,
      name: 'GET /orders/:id',
      kind: 'SERVER',
      serviceName: 'receiver-test',
      status: { code: 'UNSET' },
    });
    expect(server?.parentSpanId).toBeUndefined();
    expect(client).toMatchObject({
      traceId: ids.traceId,
      parentSpanId: ids.serverId,
      kind: 'CLIENT',
      status: { code: 'ERROR', message: 'connection reset' },
      events: [{ name: 'exception' }],
    });
    return { server, client };
  };

  it.each([
    ['protobuf', 'application/x-protobuf', () => new OtlpProtobufExporter({ url: `${otlp.url}/v1/traces` })],
    [
      'protobuf, gzipped',
      'application/x-protobuf',
      () =>
        new OtlpProtobufExporter({ url: `${otlp.url}/v1/traces`, compression: CompressionAlgorithm.GZIP }),
    ],
    ['JSON', 'application/json', () => new OtlpJsonExporter({ url: `${otlp.url}/v1/traces` })],
  ])(
    'decodes OTLP/HTTP %s into hex ids, kinds, statuses and typed attributes',
    async (_encoding, contentType, exporter) => {
      const ids = await exportThrough(exporter());
      const { server, client } = expectTrace(otlp.spans, ids);
      expect(server?.attributes).toEqual({
        'http.route': '/orders/:id',
        'http.response.status_code': 502,
        ratio: 0.5,
        cached: false,
        tags: ['a', 'b'],
      });
      expect(client?.events[0].attributes).toMatchObject({
        'exception.type': 'Error',
        'exception.message': 'connection reset',
      });
      expect(otlp.contentTypes.at(-1)).toBe(contentType);
    },
  );

  it('decodes Zipkin v2 JSON into the same shape, tags as strings', async () => {
    const ids = await exportThrough(new ZipkinExporter({ url: `${zipkin.url}/api/v2/spans` }));
    const { server } = expectTrace(zipkin.spans, ids);
    expect(server?.attributes).toMatchObject({
      'http.route': '/orders/:id',
      'http.response.status_code': '502',
      cached: 'false',
    });
  });

  it('waits for spans that arrive later, and says what it had when they do not', async () => {
    const waiting = otlp.waitFor((spans) => spans.some((s) => s.name === 'late'), 5000);
    const provider = new TracerProvider({
      spanProcessors: [
        new SimpleSpanProcessor({ exporter: new OtlpJsonExporter({ url: `${otlp.url}/v1/traces` }) }),
      ],
    });
    provider.getTracer('test').startSpan('late').end();
    await provider.shutdown();
    await expect(waiting).resolves.toContainEqual(expect.objectContaining({ name: 'late' }));
    await expect(zipkin.waitFor(() => false, 50)).rejects.toThrow(
      /Zipkin receiver: condition not met within 50 ms \(\d+ spans: receiver-test:/,
    );
  });

  it('answers 404 off its path and 400 to what it cannot decode', async () => {
    expect((await fetch(`${otlp.url}/v1/metrics`, { method: 'POST', body: '{}' })).status).toBe(404);
    expect(
      (
        await fetch(`${otlp.url}/v1/traces`, {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: 'x',
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await fetch(`${zipkin.url}/api/v2/spans`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        })
      ).status,
    ).toBe(400);
  });
});
