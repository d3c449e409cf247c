import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { SpanKind, trace } from '@opentelemetry/api';
import { loggingErrorHandler, setGlobalErrorHandler } from '@opentelemetry/core';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { Agent, type Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppConfig, loadConfig } from '#lab/config';
import { freePort } from '#lab/testing';
import { useInMemoryTracing } from '../test/in-memory-tracing.js';
import { ClientCall, isLabClientCall } from './client-calls.js';
import { HTTP_CLIENT_DURATION, HttpClientMetrics, httpClientDuration } from './http-client-metrics.js';
import { dropPropagationHeaders } from './instrumentations.js';
import { Metrics } from './metrics.js';
import { renderMetrics } from './prometheus.js';

const tracing = useInMemoryTracing();
const nextCheckPhase = () => new Promise((resolve) => setImmediate(resolve));

/** Answers 200, 404 for `/missing`; holds `/held` unanswered until the client gives up. */
let server: Server;
let origin: string;
const seen: IncomingHttpHeaders[] = [];
const held: ServerResponse[] = [];
let heldArrived: () => void = () => undefined;

interface Outcome {
  status?: number;
  error?: Error;
  /** Client spans ended by the time the caller had its answer. */
  endedBeforeAnswer: number;
}

describe(ClientCall.name, () => {
  const instrumentation = new UndiciInstrumentation({
    requestHook: dropPropagationHeaders,
    ignoreRequestHook: isLabClientCall,
  });
  const agent = new Agent({ keepAliveTimeout: 1000 });
  const metrics = new Metrics();
  let callMetrics: HttpClientMetrics;

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers);
      if (req.url === '/held') {
        held.push(res);
        heldArrived();
        return;
      }
      res.writeHead(req.url === '/missing' ? 404 : 200).end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    instrumentation.setTracerProvider(tracing.provider);
    instrumentation.enable();
    const config: AppConfig = loadConfig('gateway', { PRODUCT_URL: origin });
    callMetrics = new HttpClientMetrics(config, metrics);
    callMetrics.onModuleInit();
  });

  afterAll(async () => {
    callMetrics.onModuleDestroy();
    instrumentation.disable();
    for (const res of held) res.destroy();
    await agent.close();
    await new Promise((resolve) => server.close(resolve));
  });

  /**
   * One call dispatched as the lab's HTTP client does (a handler of its own), its client span made by
   * {@link ClientCall} (`lab`) or by the undici instrumentation, inside a caller's span.
   */
  async function exchange(
    lab: boolean,
    path: string,
    options: { to?: string; method?: string; headers?: Record<string, string>; abandonHeld?: boolean } = {},
  ): Promise<{ outcome: Outcome; parent: string }> {
    const to = options.to ?? origin;
    const method = options.method ?? 'GET';
    const headers: Record<string, string | string[]> = { 'user-agent': 'lab-test', ...options.headers };
    return trace.getTracer('test').startActiveSpan('caller', async (caller) => {
      const clientSpans = () => tracing.spans().filter((s) => s.kind === SpanKind.CLIENT).length;
      const before = clientSpans();
      const call = lab
        ? new ClientCall({
            peer: 'product',
            method,
            origin: to,
            path,
            headers,
            duration: httpClientDuration(metrics),
          })
        : undefined;
      const arrived = new Promise<void>((resolve) => (heldArrived = resolve));
      const outcome = await new Promise<Outcome>((resolve) => {
        let status: number | undefined;
        const handler: Dispatcher.DispatchHandler = {
          onRequestStart(controller) {
            if (options.abandonHeld) void arrived.then(() => controller.abort(new Error('timed out')));
          },
          onResponseStart(_controller, statusCode) {
            status = statusCode;
            call?.answered(statusCode);
          },
          onResponseData() {
            return true;
          },
          onResponseEnd() {
            call?.ended();
            resolve({ status, endedBeforeAnswer: 0 });
          },
          onResponseError(_controller, error) {
            call?.failed(error);
            resolve({ status, error, endedBeforeAnswer: 0 });
          },
        };
        const send = () =>
          agent.dispatch({ origin: to, path, method: method as Dispatcher.HttpMethod, headers }, handler);
        if (call) call.dispatch(send);
        else send();
      });
      outcome.endedBeforeAnswer = clientSpans() - before;
      caller.end();
      await nextCheckPhase();
      return { outcome, parent: caller.spanContext().spanId };
    });
  }

  const lastClientSpan = (): ReadableSpan => {
    const spans = tracing.spans().filter((s) => s.kind === SpanKind.CLIENT);
    return spans[spans.length - 1];
  };

  /** What a span says, without its ids and times. */
  const described = (span: ReadableSpan) => ({
    name: span.name,
    kind: span.kind,
    attributes: span.attributes,
    status: span.status,
    events: span.events.map((event) => ({
      name: event.name,
      attributes: { ...event.attributes, 'exception.stacktrace': undefined },
    })),
  });

  async function both(path: string, options: Parameters<typeof exchange>[2] = {}) {
    const theirs = await exchange(false, path, options);
    const theirSpan = lastClientSpan();
    const clientSpans = tracing.spans().filter((s) => s.kind === SpanKind.CLIENT).length;
    const ours = await exchange(true, path, options);
    const ourSpan = lastClientSpan();
    // One span for the call: the instrumentation leaves it alone.
    expect(tracing.spans().filter((s) => s.kind === SpanKind.CLIENT).length).toBe(clientSpans + 1);
    expect(ourSpan.instrumentationScope.name).toBe('observability-lab');
    expect(theirSpan.parentSpanContext?.spanId).toBe(theirs.parent);
    expect(ourSpan.parentSpanContext?.spanId).toBe(ours.parent);
    expect(ourSpan).not.toBe(theirSpan);
    return { theirSpan, ourSpan, ours };
  }

  it.each([
    ['a success', '/products/42?limit=2&x=a:b'],
    ['a success without a query', '/products'],
    ['a path URL re-encodes', "/products/{id}?q='x'"],
    ['a path with a dot segment', '/a/./b/../products?'],
    ['a path with an encoded dot segment', '/a/%2e%2E/products.json?x=%2e'],
    ['an HTTP error status', '/missing'],
  ])('makes the span the undici instrumentation made, for %s', async (_case, path) => {
    const { theirSpan, ourSpan } = await both(path);
    expect(Object.keys(ourSpan.attributes)).toEqual(
      expect.arrayContaining(['url.full', 'server.port', 'user_agent.original', 'network.peer.address']),
    );
    expect(described(ourSpan)).toEqual(described(theirSpan));
  });

  it('makes the same span for another method, and for a refused connection', async () => {
    const post = await both('/orders', { method: 'POST' });
    expect(described(post.ourSpan)).toEqual(described(post.theirSpan));
    const closed = `http://127.0.0.1:${await freePort()}`;
    const refused = await both('/products', { to: closed });
    expect(refused.ours.outcome.error).toBeDefined();
    expect(refused.ourSpan.status.code).toBe(2);
    expect(described(refused.ourSpan)).toEqual(described(refused.theirSpan));
  });

  it('makes the same span for a call abandoned while waiting for its answer (a timeout)', async () => {
    const { ourSpan, theirSpan } = await both('/held', { abandonHeld: true });
    expect(ourSpan.attributes['error.type']).toBe('Error');
    expect(described(ourSpan)).toEqual(described(theirSpan));
  });

  it('leaves a call undici queues (every connection busy) to the undici instrumentation: one span still', async () => {
    // (An agent of one connection is a Client, which queues requests it has created: two for a Pool.)
    const single = new Agent({ connections: 2 });
    const clientSpans = () => tracing.spans().filter((span) => span.kind === SpanKind.CLIENT);
    const settled = (onEnd: () => void): Dispatcher.DispatchHandler => ({
      onRequestStart: () => undefined,
      onResponseStart: () => undefined,
      onResponseData: () => true,
      onResponseEnd: onEnd,
      onResponseError: onEnd,
    });
    const hold = async () => {
      const arrived = new Promise<void>((resolve) => (heldArrived = resolve));
      const answered = new Promise<void>((resolve) =>
        single.dispatch({ origin, path: '/held', method: 'GET' }, settled(resolve)),
      );
      await arrived;
      return { answered };
    };
    const first = [(await hold()).answered, (await hold()).answered];
    const before = clientSpans().length;
    const headers: Record<string, string> = {};
    const call = new ClientCall({
      peer: 'product',
      method: 'GET',
      origin,
      path: '/products',
      headers,
      duration: httpClientDuration(metrics),
    });
    const queued = new Promise<void>((resolve) =>
      call.dispatch(() =>
        single.dispatch(
          { origin, path: '/products', method: 'GET', headers },
          {
            onRequestStart: () => undefined,
            onResponseStart: (_controller, status) => call.answered(status),
            onResponseData: () => true,
            onResponseEnd: () => {
              call.ended();
              resolve();
            },
            onResponseError: (_controller, error) => {
              call.failed(error);
              resolve();
            },
          },
        ),
      ),
    );
    for (const res of held.splice(-2)) res.end('late');
    await Promise.all([...first, queued]);
    await nextCheckPhase();
    const added = clientSpans().slice(before);
    expect(added.map((span) => [span.attributes['url.path'], span.instrumentationScope.name])).toEqual([
      ['/held', '@opentelemetry/instrumentation-undici'],
      ['/held', '@opentelemetry/instrumentation-undici'],
      ['/products', '@opentelemetry/instrumentation-undici'],
    ]);
    await single.close();
  });

  it("sends exactly one traceparent, its span's, replacing a forwarded one, and no forwarded tracestate", async () => {
    seen.length = 0;
    await exchange(true, '/products', {
      headers: {
        TraceParent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`,
        tracestate: 'x=y',
        baggage: 'k=v',
      },
    });
    const span = lastClientSpan();
    expect(seen[0].traceparent).toBe(`00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`);
    expect(seen[0].tracestate).toBeUndefined();
    expect(seen[0].baggage).toBeUndefined();
  });

  it('records every call that ended in a turn, even when recording one of them fails', async () => {
    const errors: unknown[] = [];
    setGlobalErrorHandler((error) => errors.push(error));
    try {
      const broken = {
        observe: () => {
          throw new Error('the histogram broke');
        },
      } as unknown as ReturnType<typeof httpClientDuration>;
      const calls = [broken, httpClientDuration(metrics)].map(
        (duration) =>
          new ClientCall({ peer: 'product', method: 'GET', origin, path: '/turn', headers: {}, duration }),
      );
      // Both answers in first, then both ended in one turn: one check phase records the two.
      await Promise.all(
        calls.map(
          (call) =>
            new Promise<void>((resolve, reject) =>
              call.dispatch(() =>
                agent.dispatch(
                  { origin, path: '/turn', method: 'GET', headers: {} },
                  {
                    onRequestStart: () => undefined,
                    onResponseStart: (_controller, statusCode) => call.answered(statusCode),
                    onResponseData: () => true,
                    onResponseEnd: () => resolve(),
                    onResponseError: (_controller, error) => reject(error),
                  },
                ),
              ),
            ),
        ),
      );
      for (const call of calls) call.ended();
      await nextCheckPhase();
      const ended = tracing.spans().filter((span) => span.attributes['url.path'] === '/turn');
      expect(ended).toHaveLength(2);
      expect(errors).toHaveLength(1);
    } finally {
      setGlobalErrorHandler(loggingErrorHandler());
    }
  });

  it('ends its span after the caller had its answer, with the time the answer ended', async () => {
    const { outcome } = await exchange(true, '/products');
    expect(outcome.endedBeforeAnswer).toBe(0);
    expect(lastClientSpan().ended).toBe(true);
    // The instrumentation ended its span before: the difference this change makes.
    expect((await exchange(false, '/products')).outcome.endedBeforeAnswer).toBe(1);
  });

  it("is measured once, by its own observation with its span's exemplar, not again from undici's channels", async () => {
    const count = async () => {
      const { body } = await renderMetrics(undefined);
      const line = `${HTTP_CLIENT_DURATION}_count{peer_service="product",method="PUT",status_code="200"}`;
      return Number(
        body
          .split('\n')
          .find((l) => l.startsWith(line))
          ?.split(' ')[1] ?? 0,
      );
    };
    const before = await count();
    await exchange(true, '/products/7', { method: 'PUT' });
    expect(await count()).toBe(before + 1);
    const span = lastClientSpan();
    const { body } = await renderMetrics('application/openmetrics-text');
    expect(body).toContain(
      `# {trace_id="${span.spanContext().traceId}",span_id="${span.spanContext().spanId}"}`,
    );
    // Another caller's undici request is still measured from the channels.
    await exchange(false, '/products/7', { method: 'PUT' });
    expect(await count()).toBe(before + 2);
  });
});
