import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '#lab/config';
import { FaultInjection, FaultState } from '#lab/faults';
import { Metrics } from '#lab/telemetry';
import { TraceService } from 'nestjs-otel';
import { type Histogram, register } from 'prom-client';
import { RequestError, UpstreamUnavailableError } from './errors.js';
import { ServiceClient } from './service-client.js';

/** A loopback stand-in for the product service: answers with `handler`, counts the requests it gets. */
let handler: (request: IncomingMessage, response: ServerResponse) => void = (_q, r) => r.end();
let calls = 0;
let connections = 0;
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    calls++;
    request.resume();
    request.on('end', () => handler(request, response));
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

const clients: ServiceClient[] = [];
const faults = new FaultState();
function client(env: Record<string, string> = {}) {
  const created = new ServiceClient(
    loadConfig('gateway', {
      PRODUCT_URL: url,
      RETRY_BASE_DELAY_MS: '1',
      RETRY_MAX_DELAY_MS: '5',
      BREAKER_MIN_REQUESTS: '1000',
      ...env,
    }),
    new FaultInjection(faults, new TraceService(), new Metrics()),
    new Metrics(),
    new TraceService(),
  );
  clients.push(created);
  return created;
}
afterEach(async () => {
  calls = 0;
  connections = 0;
  faults.unreachable.clear();
  await Promise.all(clients.splice(0).map((c) => c.onModuleDestroy()));
});
const answer =
  (status: number, headers: Record<string, string> = {}) =>
  (_: IncomingMessage, response: ServerResponse) => {
    response.writeHead(status, { 'content-type': 'application/json', ...headers });
    response.end(JSON.stringify({ status }));
  };
const retries = async (reason: string) =>
  (await register.getSingleMetric('http_client_retries_total')?.get())?.values.find(
    (v) => v.labels.peer_service === 'product' && v.labels.reason === reason,
  )?.value ?? 0;

/** How many calls to the product service `http_client_request_duration_seconds` counted with these labels. */
async function observations(labels: Record<string, string>): Promise<number> {
  const histogram = register.getSingleMetric('http_client_request_duration_seconds') as Histogram | undefined;
  const values = (await histogram?.get())?.values ?? [];
  return (
    values.find(
      (v) =>
        v.metricName === 'http_client_request_duration_seconds_count' &&
        v.labels.peer_service === 'product' &&
        Object.entries(labels).every(([name, value]) => v.labels[name] === value),
    )?.value ?? 0
  );
}

describe(ServiceClient.name, () => {
  it('measures each attempt itself, after the caller has its answer: one observation per status', async () => {
    const count = (status: string) => observations({ method: 'GET', status_code: status });
    const before = [await count('503'), await count('200')];
    let n = 0;
    handler = (request, response) => answer(n++ === 0 ? 503 : 200)(request, response);
    const response = await client().call('product', 'GET', '/products');
    expect(response.status).toBe(200);
    expect(await count('200')).toBe(before[1]);
    await new Promise((resolve) => setImmediate(resolve));
    expect([await count('503'), await count('200')]).toEqual([before[0] + 1, before[1] + 1]);
  });

  it('never retries a POST or a PATCH, even on a 503', async () => {
    handler = answer(503);
    const http = client();
    expect((await http.call('product', 'POST', '/products', { json: {} })).status).toBe(503);
    expect((await http.call('product', 'PATCH', '/products/1', { json: {} })).status).toBe(503);
    expect(calls).toBe(2);
  });

  it('retries an idempotent call at most RETRY_MAX times on 502/503/504, and counts the retries', async () => {
    handler = answer(502);
    const before = await retries('status_502');
    const http = client();
    expect((await http.call('product', 'GET', '/products/1')).status).toBe(502);
    expect(calls).toBe(3);
    expect((await retries('status_502')) - before).toBe(2);
    calls = 0;
    let n = 0;
    handler = (request, response) => answer(++n === 1 ? 504 : 200)(request, response);
    expect((await http.call('product', 'PUT', '/stock/reservations/1', { json: {} })).status).toBe(200);
    expect(calls).toBe(2);
  });

  it('does not retry a 4xx, a 501, or a 503 that says when to come back (Retry-After)', async () => {
    const http = client();
    for (const [status, headers] of [
      [404, {}],
      [501, {}],
      [503, { 'retry-after': '3' }],
    ] as const) {
      handler = answer(status, headers);
      expect((await http.call('product', 'GET', '/products/1')).status).toBe(status);
    }
    expect(calls).toBe(3);
  });

  it('retries a GET answered 500 (an intermittent failure), twice at most', async () => {
    const http = client();
    handler = answer(500, {});
    expect((await http.call('product', 'GET', '/products/1')).status).toBe(500);
    expect(calls).toBe(3);
  });

  it('retries connection errors and fails with UpstreamUnavailableError (unreachable) in the end', async () => {
    const http = client({ PRODUCT_URL: 'http://127.0.0.1:1' });
    await expect(http.call('product', 'GET', '/products')).rejects.toMatchObject({
      reason: 'unreachable',
      failure: 'ECONNREFUSED',
    });
  });

  it('times out per upstream (UPSTREAM_TIMEOUTS_MS), each attempt', async () => {
    handler = (_request, response) => setTimeout(() => response.end(), 1000);
    const http = client({ UPSTREAM_TIMEOUTS_MS: 'product=100', RETRY_MAX: '1' });
    const started = Date.now();
    await expect(http.call('product', 'GET', '/slow')).rejects.toMatchObject({
      reason: 'timeout',
      failure: 'UND_ERR_HEADERS_TIMEOUT',
    });
    expect(Date.now() - started).toBeLessThan(900);
    expect(calls).toBe(2);
  });

  it('keeps retries within the budget against a 50%-failing upstream', async () => {
    let n = 0;
    handler = (request, response) => answer(n++ % 2 === 0 ? 503 : 200)(request, response);
    const http = client({ RETRY_BUDGET_RATIO: '0.2', RETRY_BUDGET_MIN_RETRIES: '2' });
    const results = [];
    for (let i = 0; i < 100; i++) results.push((await http.call('product', 'GET', '/products')).status);
    // 100 requests: at most max(2, 0.2·100) = 20 retries on top.
    expect(calls).toBeGreaterThan(100);
    expect(calls).toBeLessThanOrEqual(120);
    expect(results.filter((s) => s === 200).length).toBeGreaterThan(50);
  });

  it('fails a call to an upstream made unreachable by a fault, without calling it, measured as a failed call, and the breaker counts it', async () => {
    handler = answer(200);
    faults.unreachable.add('product');
    const http = client({ BREAKER_MIN_REQUESTS: '3', RETRY_MAX: '0' });
    const failed = () => observations({ status_code: 'error' });
    // The calls of the tests before are measured in the same histogram.
    const before = await failed();
    for (let i = 0; i < 3; i++) {
      await expect(http.call('product', 'GET', '/products')).rejects.toMatchObject({
        reason: 'unreachable',
        failure: 'FAULT_INJECTED',
      });
    }
    expect(calls).toBe(0);
    // Measured as failed calls, like a real unreachable upstream (undici never saw them).
    expect(await failed()).toBe(before + 3);
    expect(http.breakerState('product')).toBe('open');
    const rejected = await http.call('product', 'GET', '/products').catch((error: unknown) => error);
    expect(rejected).toBeInstanceOf(UpstreamUnavailableError);
    expect(rejected).toMatchObject({ reason: 'circuit_open', code: 'circuit_open' });
    const gauge = await register.getSingleMetric('circuit_breaker_state')?.get();
    expect(
      gauge?.values.filter((v) => v.labels.upstream === 'product').map((v) => [v.labels.state, v.value]),
    ).toEqual([
      ['closed', 0],
      ['open', 1],
      ['half_open', 0],
    ]);
  });

  const notCounted = async (reason: string) =>
    (await register.getSingleMetric('circuit_breaker_not_counted_total')?.get())?.values.find(
      (v) => v.labels.upstream === 'product' && v.labels.reason === reason,
    )?.value ?? 0;

  it('refuses a request with a hop-by-hop header before sending it: no call, no retry, nothing counted by the breaker', async () => {
    handler = answer(200);
    const http = client({ BREAKER_MIN_REQUESTS: '3' });
    const before = await notCounted('invalid_request');
    for (const [name, value] of [
      ['expect', '100-continue'],
      ['transfer-encoding', 'chunked'],
      ['connection', 'upgrade'],
      ['upgrade', 'h2c'],
      ['keep-alive', 'timeout=5'],
    ]) {
      for (let i = 0; i < 3; i++) {
        const refused = await http
          .send('product', { method: 'GET', path: '/products', headers: { [name]: value } })
          .catch((error: unknown) => error);
        expect(refused).toBeInstanceOf(RequestError);
        expect(refused).toMatchObject({ reason: 'invalid_request' });
      }
    }
    expect(calls).toBe(0);
    expect(http.breakerState('product')).toBe('closed');
    expect((await notCounted('invalid_request')) - before).toBe(15);
    expect((await http.call('product', 'GET', '/products')).status).toBe(200);
  });

  it('refuses a target that is not a path (absolute form, an authority, no leading slash): nothing reaches the upstream', async () => {
    handler = answer(200);
    const http = client();
    const before = await notCounted('invalid_request');
    for (const path of ['http://evil.example/api/products', '//evil.example/x', '//', 'products', '*']) {
      const refused = await http
        .send('product', { method: 'GET', path, headers: {} })
        .catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(RequestError);
      expect(refused).toMatchObject({ reason: 'invalid_request', failure: 'NOT_ORIGIN_FORM' });
    }
    expect(calls).toBe(0);
    expect((await notCounted('invalid_request')) - before).toBe(5);
  });

  it('abandons a call its caller aborted: not retried, not counted, the breaker stays closed', async () => {
    handler = () => undefined;
    const http = client({ BREAKER_MIN_REQUESTS: '3', UPSTREAM_TIMEOUT_MS: '10000' });
    const before = await notCounted('caller_aborted');
    for (let i = 0; i < 5; i++) {
      const caller = new AbortController();
      const pending = http.send('product', {
        method: 'GET',
        path: '/hang',
        headers: {},
        signal: caller.signal,
      });
      while (calls <= i) await new Promise((resolve) => setTimeout(resolve, 5));
      caller.abort();
      await expect(pending).rejects.toMatchObject({ name: 'RequestError', reason: 'caller_aborted' });
    }
    expect(calls).toBe(5);
    expect(http.breakerState('product')).toBe('closed');
    expect((await notCounted('caller_aborted')) - before).toBe(5);
  });

  it('does not count a 503 with Retry-After (load shed, a deeper breaker open) against the breaker; a bare 503 opens it', async () => {
    const http = client({ BREAKER_MIN_REQUESTS: '3', RETRY_MAX: '0' });
    handler = answer(503, { 'retry-after': '1' });
    for (let i = 0; i < 10; i++)
      expect((await http.call('product', 'POST', '/oauth/token')).status).toBe(503);
    expect(http.breakerState('product')).toBe('closed');
    handler = answer(503);
    for (let i = 0; i < 3; i++) expect((await http.call('product', 'POST', '/oauth/token')).status).toBe(503);
    expect(http.breakerState('product')).toBe('open');
  });

  it('lets a call marked breaker: false through an open breaker, without counting it', async () => {
    faults.unreachable.add('product');
    const http = client({ BREAKER_MIN_REQUESTS: '3', RETRY_MAX: '0' });
    for (let i = 0; i < 3; i++) await http.call('product', 'GET', '/products').catch(() => undefined);
    expect(http.breakerState('product')).toBe('open');
    faults.unreachable.clear();
    handler = answer(200);
    const response = await http.send('product', {
      method: 'GET',
      path: '/admin/faults',
      headers: {},
      breaker: false,
    });
    expect(response.status).toBe(200);
    await response.body.dump();
    expect(http.breakerState('product')).toBe('open');
  });

  it('passes the request target on as the caller wrote it, behind the path of the upstream URL', async () => {
    let seen: string | undefined;
    handler = (request, response) => {
      seen = request.url;
      response.end();
    };
    const http = client();
    // Characters a URL parser would percent-encode (braces in the path, a quote in the query).
    const target = "/items/{x}?q='a'";
    await (await http.send('product', { method: 'GET', path: target, headers: {} })).body.dump();
    expect(seen).toBe(target);
    await (
      await client({ PRODUCT_URL: `${url}/prefix` }).send('product', {
        method: 'GET',
        path: '/x?y',
        headers: {},
      })
    ).body.dump();
    expect(seen).toBe('/prefix/x?y');
  });

  it('reads an answer whole, however many chunks it came in, or as a stream; a discarded one frees its connection', async () => {
    const parts = ['{"a":', '"', 'x'.repeat(100_000), '"}'];
    handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      const next = (i: number): void => {
        if (i === parts.length) return void response.end();
        response.write(parts[i]);
        setTimeout(() => next(i + 1), 5);
      };
      next(0);
    };
    const http = client();
    const whole = await http.send('product', { method: 'GET', path: '/a', headers: {} });
    expect((await whole.body.whole()).toString()).toBe(parts.join(''));
    expect(await (await http.call('product', 'GET', '/b')).body).toEqual({ a: 'x'.repeat(100_000) });
    const streamed = await http.send('product', { method: 'GET', path: '/c', headers: {} });
    let text = '';
    for await (const chunk of streamed.body.stream()) text += String(chunk);
    expect(text).toBe(parts.join(''));
    expect(calls).toBe(3);
    // A discarded answer is read off its connection, which the next call then reuses.
    const before = connections;
    for (let i = 0; i < 3; i++) {
      await (await http.send('product', { method: 'GET', path: '/d', headers: {} })).body.dump();
      // undici frees the connection in the check phase after the answer ended.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(calls).toBe(6);
    expect(connections).toBe(before);
  });

  it('holds no more than a little of a body nobody has claimed yet: the rest waits in the socket, then arrives whole', async () => {
    const total = 48 * 1024 * 1024;
    const piece = Buffer.alloc(256 * 1024, 'x');
    let written = 0;
    handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
      const more = (): void => {
        while (written < total) {
          written += piece.length;
          if (!response.write(piece)) return void response.once('drain', more);
        }
        response.end();
      };
      more();
    };
    const http = client({ UPSTREAM_TIMEOUTS_MS: 'product=30000' });
    const answer = await http.send('product', { method: 'GET', path: '/big', headers: {} });
    // Unclaimed: the upstream writes until the socket buffers are full, then waits (before, all of it
    // was taken into memory as fast as it came).
    for (let last = -1; written !== last && written < total;) {
      last = written;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(written).toBeLessThan(total / 2);
    let received = 0;
    for await (const chunk of answer.body.stream()) received += (chunk as Buffer).length;
    expect(received).toBe(total);
  });

  it('fails the body of an answer that breaks off, read whole or streamed', async () => {
    handler = (_request, response) => {
      response.writeHead(200, { 'content-length': '1000' });
      response.write('{"partial":');
      setTimeout(() => response.socket?.destroy(), 10);
    };
    const http = client({ RETRY_MAX: '0' });
    const whole = await http.send('product', { method: 'GET', path: '/a', headers: {} });
    await expect(whole.body.whole()).rejects.toThrow();
    const streamed = await http.send('product', { method: 'GET', path: '/b', headers: {} });
    await expect(
      (async () => {
        for await (const chunk of streamed.body.stream()) void chunk;
      })(),
    ).rejects.toThrow();
  });
});
