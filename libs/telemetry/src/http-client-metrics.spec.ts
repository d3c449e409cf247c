import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { SpanKind, trace } from '@opentelemetry/api';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { register } from 'prom-client';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '#lab/testing';
import { type AppConfig, loadConfig } from '#lab/config';
import { useInMemoryTracing } from '../test/in-memory-tracing.js';
import { HTTP_CLIENT_DURATION, HttpClientMetrics, injectedSpanContext } from './http-client-metrics.js';
import { dropPropagationHeaders } from './instrumentations.js';
import { Metrics } from './metrics.js';
import { renderMetrics } from './prometheus.js';

const tracing = useInMemoryTracing();

/** A server on a free loopback port that answers 200 and remembers the request headers. */
async function startServer(): Promise<{ server: Server; url: string; seen: IncomingHttpHeaders[] }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(req.url === '/missing' ? 404 : 200).end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    server,
    seen,
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
  };
}

const count = async (labels: string) => {
  const { body } = await renderMetrics(undefined);
  return Number(
    new RegExp(`^${HTTP_CLIENT_DURATION}_count\\{${labels}\\} (\\d+)$`, 'm').exec(body)?.[1] ?? 0,
  );
};

describe(HttpClientMetrics.name, () => {
  let product: Awaited<ReturnType<typeof startServer>>;
  let stranger: Awaited<ReturnType<typeof startServer>>;
  let metrics: HttpClientMetrics;
  const instrumentation = new UndiciInstrumentation({ requestHook: dropPropagationHeaders });

  beforeAll(async () => {
    [product, stranger] = await Promise.all([startServer(), startServer()]);
    const config: AppConfig = loadConfig('order', { PRODUCT_URL: product.url });
    // As in a service: the undici instrumentation (the preload) subscribes before the telemetry module.
    instrumentation.setTracerProvider(tracing.provider);
    instrumentation.enable();
    metrics = new HttpClientMetrics(config, new Metrics());
    metrics.onModuleInit();
  });

  afterAll(async () => {
    metrics?.onModuleDestroy();
    instrumentation.disable();
    await Promise.all(
      [product, stranger].map(({ server }) => new Promise((resolve) => server.close(resolve))),
    );
  });

  it('measures calls to a lab service by its name, with an exemplar of the client span', async () => {
    const response = await trace.getTracer('test').startActiveSpan('handler', async (handler) => {
      const answer = await request(`${product.url}/products/42?x=1`);
      await answer.body.text();
      handler.end();
      return answer;
    });
    expect(response.statusCode).toBe(200);
    expect(await count('peer_service="product",method="GET",status_code="200"')).toBe(1);
    const [client] = tracing.spans().filter((span) => span.kind === SpanKind.CLIENT);
    const { body } = await renderMetrics('application/openmetrics-text');
    expect(body).toContain(
      `# {trace_id="${client.spanContext().traceId}",span_id="${client.spanContext().spanId}"}`,
    );
    expect(body).not.toContain('/products/42');
  });

  it('names any other peer by its host, and counts an answer without a response as "error"', async () => {
    await (await request(`${stranger.url}/missing`, { method: 'POST', body: 'x' })).body.text();
    const host = new URL(stranger.url).host;
    expect(await count(`peer_service="${host}",method="POST",status_code="404"`)).toBe(1);
    const closed = `http://127.0.0.1:${await freePort()}`;
    await expect(request(closed)).rejects.toThrow();
    expect(await count(`peer_service="${new URL(closed).host}",method="GET",status_code="error"`)).toBe(1);
  });

  it("sends exactly one traceparent, its own, even when the caller forwards another's", async () => {
    product.seen.length = 0;
    await trace.getTracer('test').startActiveSpan('proxy', async (span) => {
      await (
        await request(product.url, {
          headers: { traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`, tracestate: 'x=y' },
        })
      ).body.text();
      span.end();
    });
    const [headers] = product.seen;
    const sent = injectedSpanContext(['traceparent', String(headers.traceparent)]);
    expect(sent?.traceId).toBe(tracing.spans('proxy')[0].spanContext().traceId);
    expect(headers.tracestate).toBeUndefined();
  });

  it('stops measuring once the module is destroyed', async () => {
    metrics.onModuleDestroy();
    await (await request(`${product.url}/after`)).body.text();
    expect(await count('peer_service="product",method="GET",status_code="200"')).toBe(2);
    metrics.onModuleInit();
  });
});

describe(injectedSpanContext.name, () => {
  it('reads the span a traceparent header names, in either header layout', () => {
    const value = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;
    expect(injectedSpanContext(['accept', '*/*', 'traceparent', value])).toMatchObject({
      traceId: 'a'.repeat(32),
      spanId: 'b'.repeat(16),
      traceFlags: 1,
    });
    expect(injectedSpanContext(`accept: */*\r\ntraceparent: ${value}\r\n`)).toMatchObject({
      spanId: 'b'.repeat(16),
    });
    expect(injectedSpanContext(['traceparent', 'garbage'])).toBeUndefined();
    expect(injectedSpanContext(undefined)).toBeUndefined();
  });
});

describe('the client histogram', () => {
  it('lives on the default registry, where other libs register their metrics too', () => {
    expect(register.getSingleMetric(HTTP_CLIENT_DURATION)).toBeDefined();
  });
});
