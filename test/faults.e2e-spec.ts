import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  type OtlpReceiver,
  type RunningLab,
  type RunningProcess,
  repoRoot,
  startLab,
  startNode,
  startOtlpReceiver,
  waitForHttp,
} from '#lab/testing';

interface FaultsView {
  service: string;
  faults: {
    latency: { minMs: number; maxMs: number } | null;
    errorRatio: number;
    unreachable: string[];
    readinessFailing: boolean;
    memoryMb: number;
    eventLoopBlockMs: number;
  };
}

const NO_FAULT = {
  latency: null,
  errorRatio: 0,
  unreachable: [],
  readinessFailing: false,
  memoryMb: 0,
  eventLoopBlockMs: 0,
};

/**
 * `npm run chaos -- <args>` against the lab (npm puts the project's Node 22 first on the PATH), or the
 * script it runs, straight with this Node (`viaNpm: false`, faster).
 */
function chaos(args: string[], gatewayUrl: string, viaNpm = false) {
  const [command, commandArgs] = viaNpm
    ? ['npm', ['run', '-s', 'chaos', '--', ...args]]
    : [process.execPath, ['scripts/chaos.mjs', ...args]];
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      command,
      commandArgs,
      { cwd: repoRoot, env: { ...process.env, GATEWAY_URL: gatewayUrl }, timeout: 30_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('fault injection, switched at run time through the gateway (five real services)', () => {
  let lab: RunningLab;
  let order: RunningProcess;
  let otlp: OtlpReceiver;
  let admin: string;
  let user: string;
  let productId: string;

  const api = (path: string, init: RequestInit = {}) => fetch(`${lab.urls.gateway}${path}`, init);
  const faults = async (service: string, method: string, body?: unknown, token: string | null = admin) => {
    const response = await api(`/api/admin/faults/${service}`, {
      method,
      headers: {
        ...(token && { authorization: `Bearer ${token}` }),
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return {
      status: response.status,
      type: response.headers.get('content-type'),
      body: (await response.json()) as FaultsView & Record<string, unknown>,
    };
  };
  const timed = async (path: string) => {
    const started = performance.now();
    const response = await api(path);
    await response.arrayBuffer();
    return { status: response.status, ms: performance.now() - started };
  };
  const metric = async (url: string, series: string) => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  };
  const active = (service: string, fault: string) =>
    metric(lab.urls[service as 'product'], `fault_injection_active{fault="${fault}",service="${service}"}`);
  const placeOrder = (quantity = 1) =>
    api('/api/orders', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${user}`,
        'content-type': 'application/json',
        'idempotency-key': randomUUID(),
      },
      body: JSON.stringify({ lines: [{ productId, quantity }] }),
    });
  const stock = async () =>
    ((await (await api(`/api/products/${productId}`)).json()) as { stock: number }).stock;

  beforeAll(async () => {
    otlp = await startOtlpReceiver();
    lab = await startLab(
      {
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_BSP_SCHEDULE_DELAY: '200',
        // The gateway waits for the order service's own answer in the timeout scenario.
        UPSTREAM_TIMEOUT_MS: '15000',
        // Half of the product's answers fail in the retry test: its breaker must stay closed there.
        BREAKER_FAILURE_RATIO: '0.95',
        // Cached signing keys age out within a second: undoing a fault must not depend on them.
        JWKS_MAX_AGE_MS: '1000',
        JWKS_COOLDOWN_MS: '500',
      },
      ['gateway', 'oauth', 'customer', 'product'],
    );
    // The order service gives up on any other service after 500 ms (its token grant and the customer
    // check get longer, so only the product service's latency matters).
    order = startNode('dist/apps/order/src/main.js', [], {
      env: { ...lab.env, UPSTREAM_TIMEOUT_MS: '500', UPSTREAM_TIMEOUTS_MS: 'oauth=15000,customer=15000' },
    });
    await waitForHttp(`${lab.urls.order}/health/ready`, 200, 30_000);

    const grant = async (fields: Record<string, string>) => {
      const response = await api('/api/oauth/token', { method: 'POST', body: new URLSearchParams(fields) });
      expect(response.status).toBe(200);
      return ((await response.json()) as { access_token: string }).access_token;
    };
    admin = await grant({
      grant_type: 'client_credentials',
      client_id: 'admin-cli',
      client_secret: 'admin-cli-secret',
    });
    const email = `faults-${randomUUID().slice(0, 8)}@example.com`;
    const signUp = await api('/api/users', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: 'correct-horse-1', name: 'Fay' }),
    });
    expect(signUp.status).toBe(201);
    user = await grant({ grant_type: 'password', username: email, password: 'correct-horse-1' });
    const created = await api('/api/products', {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `Fault ${randomUUID().slice(0, 6)}`, price: 10, stock: 100 }),
    });
    expect(created.status).toBe(201);
    productId = ((await created.json()) as { id: string }).id;
  }, 120_000);

  afterAll(async () => {
    order?.signal('SIGKILL');
    await lab?.stop();
    await otlp?.stop();
  });

  it('admits only admins: 401 without a token, 403 for a user, 400 for bad values, 404 for no such service', async () => {
    for (const service of ['product', 'gateway']) {
      expect((await faults(service, 'GET', undefined, null)).status).toBe(401);
      expect((await faults(service, 'PUT', { errorRatio: 1 }, user)).status).toBe(403);
      expect(
        (
          await fetch(`${lab.urls[service as 'product']}/admin/faults`, {
            headers: { authorization: `Bearer ${user}` },
          })
        ).status,
      ).toBe(403);
    }
    const bad = await faults('product', 'PUT', { errorRatio: 2 });
    expect(bad).toMatchObject({
      status: 400,
      body: { code: 'invalid_fault', errors: ['errorRatio must be a number from 0 to 1'] },
    });
    expect(bad.type).toMatch(/^application\/problem\+json/);
    for (const [service, body, field] of [
      ['product', { latency: { minMs: 500, maxMs: 100 } }, 'latency.minMs'],
      ['product', { latency: { minMs: 0, maxMs: 60_001 } }, 'latency.maxMs'],
      ['product', { unreachable: ['product'] }, 'unreachable'],
      ['order', { unreachable: ['billing'] }, 'unreachable'],
      ['gateway', { readinessFailing: 'yes' }, 'readinessFailing'],
      ['customer', { chaos: true }, 'chaos'],
      ['product', { memoryMb: 4096 }, 'memoryMb'],
      ['order', { eventLoopBlockMs: -5 }, 'eventLoopBlockMs'],
    ] as const) {
      const refused = await faults(service, 'PUT', body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect((refused.body.errors as string[])[0].startsWith(field)).toBe(true);
    }
    expect((await faults('billing', 'GET')).status).toBe(404);
    for (const service of ['gateway', 'oauth', 'customer', 'product', 'order']) {
      expect(await faults(service, 'GET')).toMatchObject({
        status: 200,
        body: { service, faults: NO_FAULT },
      });
    }
  });

  it('delays requests by a fixed and a random latency, with spans, metrics and a log line, then stops', async () => {
    const on = await faults('product', 'PUT', { latency: { minMs: 600, maxMs: 600 } });
    expect(on).toMatchObject({
      status: 200,
      body: { service: 'product', faults: { ...NO_FAULT, latency: { minMs: 600, maxMs: 600 } } },
    });
    expect(await active('product', 'latency')).toBe(1);
    const slow = await timed(`/api/products/${productId}`);
    expect(slow.status).toBe(200);
    expect(slow.ms).toBeGreaterThanOrEqual(590);

    await faults('product', 'PUT', { latency: { minMs: 100, maxMs: 300 } });
    const ranged = await Promise.all(Array.from({ length: 8 }, () => timed(`/api/products/${productId}`)));
    expect(Math.min(...ranged.map((r) => r.ms))).toBeGreaterThanOrEqual(95);

    const off = await faults('product', 'DELETE');
    expect(off).toMatchObject({ status: 200, body: { service: 'product', faults: NO_FAULT } });
    expect(await active('product', 'latency')).toBe(0);
    expect((await timed(`/api/products/${productId}`)).ms).toBeLessThan(590);
    expect(
      await metric(lab.urls.product, 'faults_injected_total{fault="latency",service="product"}'),
    ).toBeGreaterThanOrEqual(9);

    const spans = await otlp.waitFor(
      (all) =>
        all.filter((s) => s.serviceName === 'product' && s.events.some((e) => e.name === 'fault.injected'))
          .length >= 9,
      10_000,
    );
    const delays = spans
      .filter((s) => s.serviceName === 'product' && s.kind === 'SERVER')
      .flatMap((s) =>
        s.events.filter((e) => e.name === 'fault.injected').map((e) => ({ span: s, event: e })),
      );
    expect(delays[0].event.attributes).toEqual({ 'fault.type': 'latency', 'fault.delay_ms': 600 });
    expect(delays[0].span.attributes).toMatchObject({
      'fault.injected': true,
      'fault.type': 'latency',
      'http.route': '/products/:id',
    });
    for (const { event } of delays.slice(1)) {
      expect(event.attributes['fault.delay_ms']).toSatisfy((ms: number) => ms >= 100 && ms <= 300);
    }
    const logs = lab.process.output();
    expect(logs).toMatch(
      /"level":"warn","message":"fault injection changed on product by admin-cli \(client admin-cli\): latency off -> 600 ms"/,
    );
    expect(logs).toContain('latency 100-300 ms -> off');
  });

  it('answers 500 injected_fault to every request at ratio 1 and to about half at 0.5', async () => {
    expect((await faults('product', 'PUT', { errorRatio: 1 })).body.faults.errorRatio).toBe(1);
    expect(await active('product', 'errors')).toBe(1);
    const failed = await api(`/api/products/${productId}`);
    expect(failed.status).toBe(500);
    expect(failed.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = (await failed.json()) as { code: string; trace_id: string; request_id: string };
    expect(problem).toMatchObject({ status: 500, code: 'injected_fault' });
    // The fault switch itself is never failed.
    expect((await faults('product', 'GET')).status).toBe(200);

    await faults('product', 'PUT', { errorRatio: 0.5 });
    // Straight to the product service: through the gateway, failed GETs are retried (next test).
    const statuses = await Promise.all(
      Array.from({ length: 80 }, async () => (await fetch(`${lab.urls.product}/products?limit=1`)).status),
    );
    const errors = statuses.filter((s) => s === 500).length;
    expect(errors).toBeGreaterThan(20);
    expect(errors).toBeLessThan(60);
    expect(statuses.every((s) => s === 200 || s === 500)).toBe(true);

    await faults('product', 'DELETE');
    expect(await active('product', 'errors')).toBe(0);
    expect((await api(`/api/products/${productId}`)).status).toBe(200);

    const spans = await otlp.waitFor(
      (all) => all.some((s) => s.traceId === problem.trace_id && s.serviceName === 'product'),
      10_000,
    );
    const server = spans.find(
      (s) => s.traceId === problem.trace_id && s.serviceName === 'product' && s.kind === 'SERVER',
    );
    expect(server?.status.code).toBe('ERROR');
    expect(server?.attributes).toMatchObject({ 'fault.type': 'errors', 'http.response.status_code': 500 });
    expect(server?.events.map((e) => e.attributes['fault.type'])).toEqual(['errors']);
    expect(lab.process.output()).toMatch(
      new RegExp(`"level":"error","message":"GET /products/:id 500".*"request_id":"${problem.request_id}"`),
    );
  });

  it('retries GETs through the gateway against a 50% error fault, within the retry budget', async () => {
    const served = async () => {
      const text = await (await fetch(`${lab.urls.product}/metrics`)).text();
      return text
        .split('\n')
        .filter(
          (l) =>
            l.startsWith('http_server_request_duration_seconds_count{') &&
            l.includes('route="/products/:id"'),
        )
        .reduce((sum, l) => sum + Number(l.split(' ')[1]), 0);
    };
    const retries = () =>
      fetch(`${lab.urls.gateway}/metrics`)
        .then((r) => r.text())
        .then((text) =>
          text
            .split('\n')
            .filter((l) => l.startsWith('http_client_retries_total{') && l.includes('peer_service="product"'))
            .reduce((sum, l) => sum + Number(l.split(' ')[1]), 0),
        );
    // Every call the gateway made to product so far: an upper bound of those still in the budget's window.
    const earlierCalls = await fetch(`${lab.urls.gateway}/metrics`)
      .then((r) => r.text())
      .then((text) =>
        text
          .split('\n')
          .filter(
            (l) =>
              l.startsWith('http_client_request_duration_seconds_count{') &&
              l.includes('peer_service="product"'),
          )
          .reduce((sum, l) => sum + Number(l.split(' ')[1]), 0),
      );
    await faults('product', 'PUT', { errorRatio: 0.5 });
    const [servedBefore, retriesBefore] = [await served(), await retries()];
    const REQUESTS = 60;
    const statuses: number[] = [];
    const loopStarted = Date.now();
    for (let i = 0; i < REQUESTS; i++) statuses.push((await timed(`/api/products/${productId}`)).status);
    const loopMs = Date.now() - loopStarted;
    await faults('product', 'DELETE');
    const calls = (await served()) - servedBefore;
    const retried = (await retries()) - retriesBefore;
    const ok = statuses.filter((s) => s === 200).length;
    console.info(
      `50% error fault: ${REQUESTS} GETs → ${calls} product calls, ${retried} retries, ${ok} answered 200`,
    );
    expect(statuses.every((s) => s === 200 || s === 500)).toBe(true);
    // Retried: more calls than requests, and every extra call a counted retry.
    expect(calls).toBeGreaterThan(REQUESTS);
    expect(calls - REQUESTS).toBe(retried);
    // Within the budget: 20% of the last 10 s of requests to product, or 10, whichever is more, in every
    // 10 s window the loop overlapped (one on a quick machine; a loaded one may take longer). Without
    // it, 2 retries per failure would make about 45 of them here.
    const windows = 1 + Math.floor(loopMs / 10_000);
    const bound = windows * Math.max(10, Math.ceil(0.2 * (REQUESTS + earlierCalls + 2)));
    console.info(
      `budget bound: ${bound} (${earlierCalls} earlier calls, ${loopMs} ms: ${windows} window(s))`,
    );
    expect(retried).toBeLessThanOrEqual(bound);
  });

  it('fails readiness (503) while live stays 200, on a backend and on the gateway itself', async () => {
    await faults('product', 'PUT', { readinessFailing: true });
    await faults('gateway', 'PUT', { readinessFailing: true });
    expect(await active('product', 'readiness')).toBe(1);
    expect(await active('gateway', 'readiness')).toBe(1);
    for (const url of [lab.urls.product, lab.urls.gateway]) {
      const ready = await fetch(`${url}/health/ready`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({
        status: 'error',
        error: { fault_injection: { status: 'down' } },
      });
      expect((await fetch(`${url}/health/live`)).status).toBe(200);
    }
    expect((await faults('gateway', 'DELETE')).body.faults).toEqual(NO_FAULT);
    expect((await faults('product', 'PUT', { readinessFailing: false })).body.faults).toEqual(NO_FAULT);
    expect((await fetch(`${lab.urls.product}/health/ready`)).status).toBe(200);
    expect((await fetch(`${lab.urls.gateway}/health/ready`)).status).toBe(200);
    expect(await active('gateway', 'readiness')).toBe(0);
    expect(lab.process.output()).toContain(
      'fault injection changed on gateway by admin-cli (client admin-cli): readiness ok -> failing',
    );
  });

  it('makes orders fail with 503 while the order service cannot reach the product service', async () => {
    const on = await faults('order', 'PUT', { unreachable: ['product'] });
    expect(on.body.faults.unreachable).toEqual(['product']);
    expect(await active('order', 'unreachable')).toBe(1);
    const refused = await placeOrder();
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ code: 'dependency_unavailable' });
    expect(
      await metric(lab.urls.order, 'faults_injected_total{fault="unreachable",service="order"}'),
    ).toBeGreaterThanOrEqual(1);
    await faults('order', 'DELETE');
    expect(await active('order', 'unreachable')).toBe(0);
    expect((await placeOrder()).status).toBe(201);
  });

  it('with 2 s of latency on product and a 500 ms timeout in order, fails the order cleanly and releases its stock', async () => {
    const before = await stock();
    await faults('product', 'PUT', { latency: { minMs: 2000, maxMs: 2000 } });
    const failed = await placeOrder(3);
    expect([503, 504]).toContain(failed.status);
    expect(failed.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    // The reservation reaches the product service 2 s late, after the order gave up on it.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    await faults('product', 'DELETE');
    const deadline = Date.now() + 20_000;
    let now = await stock();
    while (now !== before && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      now = await stock();
    }
    expect(now).toBe(before);
    const orders = (await (
      await api('/api/orders?limit=50', { headers: { authorization: `Bearer ${user}` } })
    ).json()) as {
      items: { status: string; reason?: string; lines: { quantity: number }[] }[];
    };
    const rejected = orders.items.filter((o) => o.status === 'REJECTED' && o.lines[0]?.quantity === 3);
    expect(rejected).toHaveLength(1);
    expect(rejected[0].reason).toBe('dependency_unavailable');
  }, 45_000);

  it('npm run chaos switches faults through the gateway and refuses bad input clearly', async () => {
    const on = await chaos(['product', 'latency', '100-500'], lab.urls.gateway, true);
    expect(on).toMatchObject({ code: 0 });
    expect(on.stdout).toMatch(/product: faults injected\n\s+latency\s+100-500 ms/);
    expect((await faults('product', 'GET')).body.faults.latency).toEqual({ minMs: 100, maxMs: 500 });
    expect((await chaos(['order', 'unreachable', 'product,customer'], lab.urls.gateway)).stdout).toMatch(
      /unreachable\s+customer, product/,
    );
    expect((await chaos(['product', 'errors', '0.5'], lab.urls.gateway)).stdout).toMatch(/errors\s+0\.5/);
    expect((await chaos(['product', 'readiness', 'fail'], lab.urls.gateway)).stdout).toMatch(
      /readiness\s+failing/,
    );
    expect((await chaos(['product', 'status'], lab.urls.gateway)).stdout).toMatch(/latency\s+100-500 ms/);
    expect((await chaos(['product', 'off'], lab.urls.gateway)).stdout).toMatch(/product: no fault injected/);
    expect((await chaos(['order', 'off'], lab.urls.gateway)).code).toBe(0);
    expect((await faults('product', 'GET')).body.faults).toEqual(NO_FAULT);
    expect((await faults('order', 'GET')).body.faults).toEqual(NO_FAULT);

    const bad = await chaos(['product', 'latency', 'soon'], lab.urls.gateway, true);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('latency "soon" is not milliseconds');
    expect((await chaos(['billing', 'off'], lab.urls.gateway)).stderr).toContain('unknown service "billing"');
    expect((await chaos(['product', 'errors', '1.5'], lab.urls.gateway)).code).toBe(2);
    const down = await chaos(['product', 'status'], `http://127.0.0.1:${await freePort()}`);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('cannot reach the gateway');
  });

  it('holds memory and blocks the event loop through npm run chaos, as the runtime metrics the alerts read show', async () => {
    const resident = () => metric(lab.urls.product, 'process_resident_memory_bytes{service="product"}');
    const external = () => metric(lab.urls.product, 'nodejs_external_memory_bytes{service="product"}');
    const [before, externalBefore] = [(await resident()) ?? 0, (await external()) ?? 0];
    const held = await chaos(['product', 'memory', '100'], lab.urls.gateway);
    expect(held.stdout).toMatch(/memory\s+100 MiB held/);
    expect(await active('product', 'memory')).toBe(1);
    // Held outside the heap (less other external memory freed meanwhile: 0.15 MiB seen); resident too
    // (less what a collection the allocation set off may have given back).
    expect(((await external()) ?? 0) - externalBefore).toBeGreaterThanOrEqual(99 * 1024 * 1024);
    expect(((await resident()) ?? 0) - before).toBeGreaterThanOrEqual(85 * 1024 * 1024);
    // Still served: memory is not a request fault.
    expect((await api(`/api/products/${productId}`)).status).toBe(200);

    const blocked = await chaos(['product', 'eventloop', '400'], lab.urls.gateway);
    expect(blocked.stdout).toMatch(/eventloop\s+400 ms blocked per request/);
    expect(await active('product', 'eventloop')).toBe(1);
    const counted = async () =>
      (await metric(lab.urls.product, 'faults_injected_total{fault="eventloop",service="product"}')) ?? 0;
    // Each scrape reports the loop's delays since the previous one: this one, before the requests, is
    // the start of the next.
    const blocksBefore = await counted();
    const statuses = await Promise.all(
      Array.from({ length: 3 }, async () => (await api(`/api/products/${productId}`)).status),
    );
    expect(statuses).toEqual([200, 200, 200]);
    const scrape = await (await fetch(`${lab.urls.product}/metrics`)).text();
    const value = (series: string) =>
      Number(
        scrape
          .split('\n')
          .find((line) => line.startsWith(`${series} `))
          ?.split(' ')[1],
      );
    // At least these three: any other request product got meanwhile (CI: 4) is blocked and counted too.
    expect(value('faults_injected_total{fault="eventloop",service="product"}')).toBeGreaterThanOrEqual(
      blocksBefore + 3,
    );
    // Sampled every 100 ms (libs/telemetry event-loop-lag.ts): a 400 ms block reads 300-400 ms.
    expect(value('nodejs_eventloop_lag_max_seconds{service="product"}')).toBeGreaterThanOrEqual(0.29);

    expect((await chaos(['product', 'off'], lab.urls.gateway)).stdout).toMatch(/product: no fault injected/);
    expect(await active('product', 'memory')).toBe(0);
    expect(await active('product', 'eventloop')).toBe(0);
    expect(lab.process.output()).toContain(
      'fault injection changed on product by admin-cli (client admin-cli): memory off -> 100 MiB',
    );
  });

  it('undoes any fault on any service through the gateway with the admin token, also once the cached signing keys aged out', async () => {
    const SERVICES = ['gateway', 'oauth', 'customer', 'product', 'order'] as const;
    const others = (service: string) => SERVICES.filter((s) => s !== service);
    const kinds: Record<string, (service: string) => Record<string, unknown>> = {
      // Above the 2 s the verifiers give a key fetch.
      latency: () => ({ latency: { minMs: 2500, maxMs: 2500 } }),
      errors: () => ({ errorRatio: 1 }),
      unreachable: (service) => ({ unreachable: others(service) }),
      readiness: () => ({ readinessFailing: true }),
      memory: () => ({ memoryMb: 16 }),
      eventloop: () => ({ eventLoopBlockMs: 20 }),
    };
    const keyFetches = () =>
      fetch(`${lab.urls.gateway}/metrics`)
        .then((r) => r.text())
        .then((text) => Number(/^jwks_fetches_total\{outcome="ok"[^}]*\} (\d+)/m.exec(text)?.[1] ?? 0));
    for (const [kind, fault] of Object.entries(kinds)) {
      if (kind === 'errors') {
        // Product's failures open the gateway's breaker to it (before the gateway fails everything
        // itself): the switch still gets through.
        expect((await faults('product', 'PUT', fault('product'))).status).toBe(200);
        // Earlier successes may still be in the breaker's 10 s window, and it opens above 95 % failures
        // here: as many failures as it takes (20 per success at most).
        let code: unknown;
        for (let i = 0; i < 500 && code !== 'circuit_open'; i++) {
          code = ((await (await api(`/api/products/${productId}`)).json()) as { code?: string }).code;
        }
        expect(code).toBe('circuit_open');
      }
      // The gateway last, the backends are out of its reach once it has them unreachable.
      for (const service of [...SERVICES].reverse()) {
        expect((await faults(service, 'PUT', fault(service))).status, `${kind} on ${service}`).toBe(200);
      }
      const fetchedBefore = await keyFetches();
      // Every verifier's cached keys are older than JWKS_MAX_AGE_MS now.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      // The gateway first: with others unreachable from it, it is what stands between the admin and them.
      for (const service of SERVICES) {
        const undone = await faults(service, 'DELETE');
        expect(undone.status, `undo ${kind} on ${service}`).toBe(200);
        expect(undone.body.faults).toEqual(NO_FAULT);
      }
      expect(await keyFetches(), `the gateway fetched the keys again (${kind})`).toBeGreaterThan(
        fetchedBefore,
      );
    }
    for (const service of SERVICES) {
      expect((await fetch(`${lab.urls[service]}/health/ready`)).status).toBe(200);
    }
    await expect
      .poll(async () => (await api(`/api/products/${productId}`)).status, { timeout: 15_000, interval: 500 })
      .toBe(200);
  }, 90_000);
});
