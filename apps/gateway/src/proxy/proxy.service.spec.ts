import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ProblemDetailsFilter, sendProblem } from '#lab/bootstrap';
import { loadConfig } from '#lab/config';
import { FaultInjection, FaultState } from '#lab/faults';
import { ServiceClient } from '#lab/http-client';
import { Metrics } from '#lab/telemetry';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { TraceService } from 'nestjs-otel';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { forwardedHeaders, isAmbiguousPath, ProxyService } from './proxy.service.js';

const requestWith = (headers: Record<string, string | string[]>) =>
  ({ id: 'req-1', ip: '127.0.0.2', protocol: 'http', headers }) as unknown as FastifyRequest;

describe(forwardedHeaders.name, () => {
  it('drops hop-by-hop headers, every proxy-* one and those the Connection header names', () => {
    const sent = forwardedHeaders(
      requestWith({
        host: 'localhost:3000',
        connection: 'keep-alive, X-Secret-Hop, authorization',
        'keep-alive': 'timeout=5',
        'proxy-authorization': 'Basic eA==',
        'proxy-connection': 'keep-alive',
        'proxy-anything': '1',
        te: 'trailers',
        trailer: 'x-checksum',
        'transfer-encoding': 'chunked',
        upgrade: 'h2c',
        expect: '100-continue',
        'http2-settings': 'AAMAAABkAAQAAP__',
        'x-secret-hop': 'hop',
        authorization: 'Bearer t',
        accept: 'application/json',
        'content-type': 'application/json',
      }),
    );
    expect(sent).toEqual({
      accept: 'application/json',
      'content-type': 'application/json',
      'x-request-id': 'req-1',
      'x-forwarded-for': '127.0.0.2',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'localhost:3000',
    });
  });

  it("replaces the client's own forwarding and identity headers with the gateway's", () => {
    const sent = forwardedHeaders(
      requestWith({
        'x-forwarded-for': '10.0.0.1',
        forwarded: 'for=10.0.0.1',
        'x-real-ip': '10.0.0.1',
        'x-user-id': 'admin',
        'x-internal-token': 'x',
        'x-request-id': 'mine',
        'content-length': '12',
        connection: 'x-forwarded-for',
      }),
    );
    expect(sent).toEqual({
      'x-request-id': 'req-1',
      'x-forwarded-for': '127.0.0.2',
      'x-forwarded-proto': 'http',
    });
  });
});

describe(isAmbiguousPath.name, () => {
  it('refuses fragments, dot segments (plain, encoded, ended by an encoded ? or # or by ;), backslashes and control characters', () => {
    for (const path of [
      '/api/products/../metrics',
      '/api/products/%2e%2e/metrics',
      '/api/products/.%2E/metrics',
      '/api/products/./1',
      '/api/products/..#',
      '/api/products/x#/../../metrics',
      '/api/products#frag',
      '/api/products/..%3f/metrics',
      '/api/products/%2e%2e%3F',
      '/api/products/..%23x/metrics',
      '/api/products/..;/metrics',
      '/api/products/a\\..\\metrics',
      '/api/products/%5c..%5cmetrics',
      '/api/products/%00',
      '/api/products/\u0001',
    ]) {
      expect(isAmbiguousPath(path), path).toBe(true);
    }
  });

  it('lets ordinary paths and queries through, dots in the query included', () => {
    for (const path of [
      '/api/products',
      '/api/products?q=..&limit=5',
      '/api/products?next=/../x',
      '/api/products/abc.def',
      '/api/products/...',
      '/api/products/%2e%2e%2e',
      '/.well-known/jwks.json',
    ]) {
      expect(isAmbiguousPath(path), path).toBe(false);
    }
  });
});

/**
 * The proxy between a real Fastify server and a loopback upstream, its errors answered by the one
 * problem+json mapping (ProblemDetailsFilter), as the gateway answers them.
 */
describe(ProxyService.name, () => {
  let upstream: Server;
  let upstreamUrl: string;
  let handler: (request: IncomingMessage, response: ServerResponse) => void;
  let received: IncomingMessage[] = [];
  const open: ServerResponse[] = [];
  const apps: FastifyInstance[] = [];
  const clients: ServiceClient[] = [];

  beforeAll(async () => {
    upstream = createServer((request, response) => {
      received.push(request);
      request.resume();
      request.on('end', () => handler(request, response));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    for (const response of open.splice(0)) response.destroy();
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await Promise.all(clients.splice(0).map((client) => client.onModuleDestroy()));
    received = [];
  });
  afterAll(() => new Promise((resolve) => upstream.close(resolve)));

  /** A gateway in miniature: `/api/products…` forwarded to the product service at `productUrl`. */
  async function gateway(
    env: Record<string, string> = {},
    productUrl = upstreamUrl,
    setUp: (app: FastifyInstance) => void = () => undefined,
  ): Promise<FastifyInstance> {
    const client = new ServiceClient(
      loadConfig('gateway', { PRODUCT_URL: productUrl, RETRY_MAX: '0', ...env }),
      new FaultInjection(new FaultState(), new TraceService(), new Metrics()),
      new Metrics(),
      new TraceService(),
    );
    clients.push(client);
    const proxy = new ProxyService(client, new Metrics());
    const problems = new ProblemDetailsFilter();
    const app = Fastify();
    app.all('/api/products*', async (request, reply) => {
      try {
        await proxy.forward(request, reply, 'product', request.url.slice('/api'.length));
      } catch (error) {
        sendProblem(reply, problems.answer(error, request));
      }
    });
    setUp(app);
    apps.push(app);
    await app.ready();
    return app;
  }

  it('forwards path and query with its own forwarding headers, and passes the answer back without hop-by-hop headers', async () => {
    handler = (_request, response) => {
      response.writeHead(201, {
        'content-type': 'application/json',
        'keep-alive': 'timeout=5',
        'x-custom': 'kept',
      });
      response.end('{"id":"p1"}');
    };
    const app = await gateway();

    const answer = await app.inject({
      method: 'GET',
      url: '/api/products/p1?fields=name',
      headers: {
        'x-forwarded-for': '6.6.6.6',
        'x-user-id': 'forged',
        te: 'trailers',
        accept: 'application/json',
      },
    });

    expect(answer.statusCode).toBe(201);
    expect(answer.json()).toEqual({ id: 'p1' });
    expect(answer.headers['x-custom']).toBe('kept');
    expect(answer.headers['keep-alive']).toBeUndefined();
    expect(received).toHaveLength(1);
    expect(received[0].url).toBe('/products/p1?fields=name');
    expect(received[0].headers).toMatchObject({
      'x-forwarded-for': '127.0.0.1',
      accept: 'application/json',
      'x-request-id': expect.any(String),
    });
    expect(received[0].headers['x-user-id']).toBeUndefined();
    expect(received[0].headers.te).toBeUndefined();
  });

  it("answers with the upstream's value of a header the gateway sets too, and with one copy of a header both set alike", async () => {
    handler = (_request, response) => {
      response.writeHead(200, {
        'content-type': 'application/json',
        'x-frame-options': 'DENY',
        'x-content-type-options': 'nosniff',
      });
      response.end('{}');
    };
    // As the services' security-header hook does, on the raw response.
    const app = await gateway({}, upstreamUrl, (fastify) =>
      fastify.addHook('onRequest', (_request, reply, done) => {
        reply.raw.setHeader('X-Frame-Options', 'SAMEORIGIN');
        reply.raw.setHeader('X-Content-Type-Options', 'nosniff');
        done();
      }),
    );

    const answer = await app.inject({ method: 'GET', url: '/api/products/p1' });

    expect(answer.statusCode).toBe(200);
    expect(answer.headers['x-frame-options']).toBe('DENY');
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    expect(answer.rawPayload.length).toBe(2);
  });

  it('refuses an ambiguous path with 400 ambiguous_path and never calls the upstream', async () => {
    const app = await gateway();

    const answer = await app.inject({ method: 'GET', url: '/api/products/x/..;x/metrics' });

    expect(answer.statusCode).toBe(400);
    expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(answer.json()).toMatchObject({ status: 400, code: 'ambiguous_path' });
    expect(received).toHaveLength(0);
  });

  it("passes the upstream's own errors through as they are, Retry-After included", async () => {
    handler = (_request, response) => {
      response.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '3' });
      response.end('{"status":503,"code":"overloaded"}');
    };
    const answer = await (await gateway()).inject({ method: 'GET', url: '/api/products' });

    expect(answer.statusCode).toBe(503);
    expect(answer.headers['retry-after']).toBe('3');
    expect(answer.json()).toEqual({ status: 503, code: 'overloaded' });
  });

  it('answers 503 upstream_unavailable when the upstream cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));

    const answer = await (
      await gateway({}, `http://127.0.0.1:${port}`)
    ).inject({ method: 'GET', url: '/api/products' });

    expect(answer.statusCode).toBe(503);
    expect(answer.json()).toMatchObject({
      status: 503,
      code: 'upstream_unavailable',
      detail: 'the product service is unavailable',
    });
    expect(answer.headers['retry-after']).toBeUndefined();
  });

  it('answers 504 upstream_timeout when the upstream does not answer within its timeout', async () => {
    handler = (_request, response) => void open.push(response);
    const answer = await (
      await gateway({ UPSTREAM_TIMEOUTS_MS: 'product=100' })
    ).inject({ method: 'GET', url: '/api/products' });

    expect(answer.statusCode).toBe(504);
    expect(answer.json()).toMatchObject({ status: 504, code: 'upstream_timeout' });
  });

  it('answers 503 circuit_open with Retry-After once the breaker is open, without calling the upstream', async () => {
    handler = (_request, response) => {
      response.writeHead(500);
      response.end();
    };
    const app = await gateway({
      BREAKER_MIN_REQUESTS: '2',
      BREAKER_FAILURE_RATIO: '0.5',
      BREAKER_HALF_OPEN_AFTER_MS: '60000',
    });
    for (let i = 0; i < 2; i++)
      expect((await app.inject({ method: 'GET', url: '/api/products' })).statusCode).toBe(500);

    const answer = await app.inject({ method: 'GET', url: '/api/products' });

    expect(received).toHaveLength(2);
    expect(answer.statusCode).toBe(503);
    expect(answer.json()).toMatchObject({ status: 503, code: 'circuit_open' });
    expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });
});
