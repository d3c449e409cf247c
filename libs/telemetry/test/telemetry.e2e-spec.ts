import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  type OtlpReceiver,
  type ReceivedSpan,
  repoRoot,
  type RunningProcess,
  type SpanReceiver,
  startNode,
  startOtlpReceiver,
  startZipkinReceiver,
  waitForHttp,
  type ZipkinReceiver,
} from '#lab/testing';

// Services run from dist/ (built by `npm test`) with the preload, as the launcher and the Dockerfile
// start them.
const PRELOAD = `--import=${pathToFileURL(join(repoRoot, 'dist/libs/telemetry/src/register.js')).href}`;
/** Whatever OTEL_* the developer has set must not reach the processes under test. */
const NO_OTEL = Object.fromEntries(
  Object.keys(process.env)
    .filter((name) => name.startsWith('OTEL_'))
    .map((name) => [name, undefined]),
);

const startService = (
  service: 'gateway' | 'product',
  env: Record<string, string | undefined>,
): RunningProcess =>
  startNode(`dist/apps/${service}/src/main.js`, [], {
    env: { ...NO_OTEL, NODE_OPTIONS: PRELOAD, MONGO_URL: '', OTEL_SERVICE_NAME: service, ...env },
  });

async function stop(...processes: (RunningProcess | undefined)[]): Promise<void> {
  await Promise.all(
    processes.map(async (process) => {
      if (!process) return;
      process.signal('SIGTERM');
      const timer = setTimeout(() => process.signal('SIGKILL'), 10_000);
      await process.exited;
      clearTimeout(timer);
    }),
  );
}

const callerTrace = () => ({
  traceId: randomBytes(16).toString('hex'),
  parentId: randomBytes(8).toString('hex'),
});

/** The spans one proxied `GET /api/products` should produce, found in what a receiver got. */
function productsTrace(spans: readonly ReceivedSpan[], traceId: string) {
  const mine = spans.filter((s) => s.traceId === traceId);
  const gatewayServer = mine.find((s) => s.serviceName === 'gateway' && s.kind === 'SERVER');
  // The gateway's proxy routes are plain Fastify routes: no handler span between its server and client spans.
  const gatewayInternal = mine.filter((s) => s.serviceName === 'gateway' && s.kind === 'INTERNAL');
  const gatewayClient = mine.find((s) => s.serviceName === 'gateway' && s.kind === 'CLIENT');
  const productServer = mine.find((s) => s.serviceName === 'product' && s.kind === 'SERVER');
  const productHandler = mine.find(
    (s) => s.serviceName === 'product' && s.name === 'ProductsController.list',
  );
  const mongo = mine.filter(
    (s) =>
      s.serviceName === 'product' &&
      (s.attributes['db.system.name'] ?? s.attributes['db.system']) === 'mongodb',
  );
  return { mine, gatewayServer, gatewayInternal, gatewayClient, productServer, productHandler, mongo };
}

const complete = (traceId: string) => (spans: readonly ReceivedSpan[]) => {
  const found = productsTrace(spans, traceId);
  return Boolean(
    found.gatewayServer &&
    found.gatewayClient &&
    found.productServer &&
    found.productHandler &&
    found.mongo.length > 0,
  );
};

describe('tracing and metrics of real services started with the telemetry preload', () => {
  let otlp: OtlpReceiver;
  let zipkin: ZipkinReceiver;

  beforeAll(async () => {
    [otlp, zipkin] = await Promise.all([startOtlpReceiver(), startZipkinReceiver()]);
  });

  afterAll(async () => {
    await Promise.all([otlp?.stop(), zipkin?.stop()]);
  });

  describe.each([
    ['http/protobuf', 'application/x-protobuf'],
    ['http/json', 'application/json'],
  ])('gateway → product, exporting OTLP %s and Zipkin at once', (protocol, contentType) => {
    let product: RunningProcess | undefined;
    let gateway: RunningProcess | undefined;
    let productUrl: string;
    let gatewayUrl: string;
    const caller = callerTrace();

    beforeAll(async () => {
      const [productPort, gatewayPort] = [await freePort(), await freePort()];
      productUrl = `http://127.0.0.1:${productPort}`;
      gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
      const otel = {
        OTEL_TRACES_EXPORTER: 'otlp,zipkin',
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_EXPORTER_ZIPKIN_ENDPOINT: `${zipkin.url}/api/v2/spans`,
        OTEL_BSP_SCHEDULE_DELAY: '200',
      };
      product = startService('product', { ...otel, PRODUCT_PORT: String(productPort) });
      gateway = startService('gateway', {
        ...otel,
        GATEWAY_PORT: String(gatewayPort),
        PRODUCT_URL: productUrl,
      });
      await Promise.all([
        waitForHttp(`${productUrl}/health/ready`, 200, 30_000),
        waitForHttp(`${gatewayUrl}/health/ready`, 200, 30_000),
      ]);
      const response = await fetch(`${gatewayUrl}/api/products?limit=2`, {
        headers: { traceparent: `00-${caller.traceId}-${caller.parentId}-01` },
      });
      expect(response.status).toBe(200);
    });

    afterAll(() => stop(gateway, product));

    it.each([
      ['OTLP', () => otlp],
      ['Zipkin', () => zipkin],
    ])(
      'delivers the whole trace to %s: gateway server and undici client spans (no handler span on a pass-through), then product server, handler and MongoDB spans',
      async (_name, receiver: () => SpanReceiver) => {
        await receiver().waitFor(complete(caller.traceId), 15_000);
        const { gatewayServer, gatewayInternal, gatewayClient, productServer, productHandler, mongo } =
          productsTrace(receiver().spans, caller.traceId);

        expect(gatewayServer).toMatchObject({ name: 'GET /api/products', parentSpanId: caller.parentId });
        expect(gatewayServer?.attributes['http.route']).toBe('/api/products');
        expect(gatewayInternal).toEqual([]);
        expect(gatewayClient?.parentSpanId).toBe(gatewayServer?.spanId);
        expect(productServer).toMatchObject({ name: 'GET /products', parentSpanId: gatewayClient?.spanId });
        expect(productHandler).toMatchObject({
          parentSpanId: productServer?.spanId,
          status: { code: 'UNSET' },
        });
        expect(productHandler?.attributes['http.route']).toBe('/products');
        for (const operation of mongo) {
          expect(operation).toMatchObject({ kind: 'CLIENT', parentSpanId: productHandler?.spanId });
          // The statement with its values masked: the command's keys, not the collection's name.
          expect(operation.attributes['db.query.text']).toMatch(/^\{"(find|count)":"\?",/);
        }
      },
    );

    it(`sends OTLP as ${contentType}`, () => {
      expect(otlp.contentTypes.length).toBeGreaterThan(0);
      expect(otlp.contentTypes.at(-1)).toBe(contentType);
    });

    it('traces neither health probes nor scrapes', async () => {
      await fetch(`${productUrl}/metrics`);
      await fetch(`${productUrl}/health/live`);
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(
        otlp.spans.filter((s) => /health|metrics/.test(String(s.attributes['url.path'] ?? s.name))),
      ).toEqual([]);
    });

    it('links the request histograms to those spans with exemplars in OpenMetrics, and leaves them out of Prometheus text', async () => {
      await otlp.waitFor(complete(caller.traceId), 15_000);
      const { gatewayServer, gatewayClient, productServer } = productsTrace(otlp.spans, caller.traceId);
      const openMetrics = async (url: string) => {
        const response = await fetch(`${url}/metrics`, {
          headers: { accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' },
        });
        expect(response.headers.get('content-type')).toBe(
          'application/openmetrics-text; version=1.0.0; charset=utf-8',
        );
        return response.text();
      };
      const exemplar = (spanId: string | undefined) => `# {trace_id="${caller.traceId}",span_id="${spanId}"}`;

      const gatewayMetrics = await openMetrics(gatewayUrl);
      expect(gatewayMetrics).toMatch(
        /^http_server_request_duration_seconds_bucket\{[^}]*route="\/api\/products"[^}]*service="gateway"[^}]*\} 1 # \{/m,
      );
      expect(gatewayMetrics).toContain(exemplar(gatewayServer?.spanId));
      expect(gatewayMetrics).toMatch(
        /^http_client_request_duration_seconds_bucket\{[^}]*peer_service="product"[^}]*status_code="200"[^}]*\} 1 # \{/m,
      );
      expect(gatewayMetrics).toContain(exemplar(gatewayClient?.spanId));
      expect(gatewayMetrics.trimEnd().endsWith('# EOF')).toBe(true);

      const productMetrics = await openMetrics(productUrl);
      expect(productMetrics).toMatch(
        /^http_server_request_duration_seconds_bucket\{[^}]*route="\/products"[^}]*\} 1 # \{/m,
      );
      expect(productMetrics).toContain(exemplar(productServer?.spanId));
      expect(productMetrics).toMatch(/^nodejs_eventloop_lag_seconds\{service="product"\}/m);

      const text = await fetch(`${productUrl}/metrics`);
      expect(text.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const body = await text.text();
      expect(body).toMatch(/^http_server_request_duration_seconds_count\{[^}]*route="\/products"/m);
      expect(body).toMatch(/^process_cpu_seconds_total\{service="product"\}/m);
      expect(body).not.toContain('# {');
    });
  });

  it('exports nothing and prints no OpenTelemetry error when no exporter or endpoint is set, yet gives requests trace ids', async () => {
    // Where the SDK would send by default (OTLP on 4318, Zipkin on 9411), when those ports are free here.
    const defaults = await Promise.all([4318, 9411].map((port) => listenIfFree(port)));
    const received: string[] = [];
    for (const server of defaults)
      server?.on('request', (request: { url?: string }) => received.push(String(request.url)));
    const port = await freePort();
    const product = startService('product', {
      PRODUCT_PORT: String(port),
      OTEL_SERVICE_NAME: undefined,
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    try {
      await waitForHttp(`http://127.0.0.1:${port}/health/ready`, 200, 30_000);
      expect((await fetch(`http://127.0.0.1:${port}/products?limit=1`)).status).toBe(200);
      const metrics = await (
        await fetch(`http://127.0.0.1:${port}/metrics`, {
          headers: { accept: 'application/openmetrics-text' },
        })
      ).text();
      expect(metrics).toMatch(/route="\/products".* # \{trace_id="[0-9a-f]{32}",span_id="[0-9a-f]{16}"\}/);
      await new Promise((resolve) => setTimeout(resolve, 800));
    } finally {
      await stop(product);
      await Promise.all(
        defaults.map(
          (server) => new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined))),
        ),
      );
    }
    expect(received).toEqual([]);
    // Nest's own "<Module> dependencies initialized" lines are no complaint.
    const complaints = product
      .output()
      .split('\n')
      .filter((line) => !line.includes('"context":"InstanceLoader"'));
    expect(complaints.join('\n')).not.toMatch(/opentelemetry|otlp|zipkin|exporter|ECONNREFUSED/i);
  });

  it.each([
    [
      'starts nothing with OTEL_SDK_DISABLED=true: no trace ids, no propagation',
      { OTEL_SDK_DISABLED: 'true' },
      false,
      [],
    ],
    [
      'gives spans trace ids and propagates W3C trace context and baggage by default',
      {},
      true,
      ['traceparent'],
    ],
    ['propagates what OTEL_PROPAGATORS lists', { OTEL_PROPAGATORS: 'b3' }, true, ['b3']],
  ])('%s', async (_what, env: Record<string, string>, traced: boolean, headers: string[]) => {
    const fixture = startNode('libs/telemetry/test/fixtures/span-context.mjs', [], {
      env: { ...NO_OTEL, NODE_OPTIONS: PRELOAD, ...env },
    });
    expect(await fixture.exited).toBe(0);
    const printed = JSON.parse(fixture.output().trim().split('\n').at(-1) ?? '{}') as {
      traceId: string;
      headers: string[];
    };
    expect(/^0+$/.test(printed.traceId)).toBe(!traced);
    expect(printed.headers).toEqual(headers);
  });

  it.each([
    ['calls shutdownTelemetry() before exiting', 'shutdown'],
    ['ends on its own', 'natural'],
  ])('sends the spans still buffered when a process %s', async (_how, mode) => {
    const fixture = startNode('libs/telemetry/test/fixtures/flush-on-exit.mjs', [mode], {
      env: {
        ...NO_OTEL,
        NODE_OPTIONS: PRELOAD,
        // An endpoint alone selects its exporter; a minute's delay leaves only the final flush to send.
        OTEL_EXPORTER_ZIPKIN_ENDPOINT: `${zipkin.url}/api/v2/spans`,
        OTEL_BSP_SCHEDULE_DELAY: '60000',
        OTEL_SERVICE_NAME: `flush-${mode}`,
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test',
      },
    });
    expect(await fixture.exited).toBe(0);
    const span = zipkin.spans.find((s) => s.serviceName === `flush-${mode}`);
    expect(span).toMatchObject({
      name: 'fixture.work',
      kind: 'INTERNAL',
      attributes: { 'fixture.mode': mode, 'deployment.environment.name': 'test' },
    });
  });
});

function listenIfFree(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer((_request, response) => response.writeHead(200).end());
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
