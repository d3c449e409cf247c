import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningLab, startLab } from '#lab/testing';

/**
 * The attacks of issue 16, each run as an outside client would through the real gateway of one lab,
 * each followed by an ordinary client showing it was not affected. Clients appear with their own
 * loopback addresses (Linux routes all of 127/8 to lo): the attacker and the bystander of a test never
 * share an address, as two machines would not.
 */

/** Per address and minute: above any test's ordinary traffic, below its storms. */
const RATE_LIMIT = 40;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Node's own client from a given loopback address: sends any header it is given (fetch refuses hop-by-hop ones). */
function send(
  url: string,
  options: { from?: string; method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      url,
      { method: options.method ?? 'GET', headers: options.headers, localAddress: options.from, agent: false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

/**
 * A request written byte for byte on a socket (what no client library would send), with
 * `Connection: close` or a framing error, so the gateway closes the connection; the status line's code
 * (a client half-closing first would have Node drop the answer).
 */
function sendRaw(port: number, text: string, from: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress: from });
    let received = '';
    const timer = setTimeout(() => socket.destroy(), 10_000);
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0), text: received });
    });
    socket.write(text);
  });
}

describe('no client can break the lab for another (attacks through the real gateway)', () => {
  let lab: RunningLab;
  let port: number;
  let admin: string;
  let user: { email: string; password: string; token: string };
  let otherUser: { email: string; password: string };

  const metrics = async (url: string) => (await fetch(`${url}/metrics`)).text();
  const metricSum = async (url: string, pattern: RegExp) =>
    (await metrics(url))
      .split('\n')
      .filter((line) => pattern.test(line))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  const breakerStates = async () =>
    (await metrics(lab.urls.gateway))
      .split('\n')
      .filter((line) => line.startsWith('circuit_breaker_state{') && line.endsWith(' 1'))
      .map((line) => `${/upstream="(\w+)"/.exec(line)?.[1]}:${/state="(\w+)"/.exec(line)?.[1]}`);
  const login = (email: string, password: string, from: string) =>
    send(`${lab.urls.gateway}/api/oauth/token`, {
      from,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: email, password }).toString(),
    });
  const faults = (service: string, method: 'PUT' | 'DELETE', body?: unknown) =>
    fetch(`${lab.urls.gateway}/api/admin/faults/${service}`, {
      method,
      headers: {
        authorization: `Bearer ${admin}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  /** What an ordinary client sees right after an attack: the catalogue, its profile, another user's login. */
  async function bystanderIsServed(from: string): Promise<void> {
    expect((await send(`${lab.urls.gateway}/api/products?limit=1`, { from })).status).toBe(200);
    const me = await send(`${lab.urls.gateway}/api/customers/me`, {
      from,
      headers: { authorization: `Bearer ${user.token}` },
    });
    expect(me.status).toBe(200);
    expect((await login(otherUser.email, otherUser.password, from)).status).toBe(200);
    expect((await breakerStates()).filter((state) => !state.endsWith(':closed'))).toEqual([]);
  }

  beforeAll(async () => {
    lab = await startLab({
      RATE_LIMIT_REQUESTS: String(RATE_LIMIT),
      RATE_LIMIT_WINDOW_SECONDS: '60',
      // One key fetch per minute at most for unknown key ids: a storm of them must not get more.
      JWKS_COOLDOWN_MS: '60000',
    });
    port = Number(new URL(lab.urls.gateway).port);
    const grant = async (fields: Record<string, string>) => {
      const response = await fetch(`${lab.urls.gateway}/api/oauth/token`, {
        method: 'POST',
        body: new URLSearchParams(fields),
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { access_token: string }).access_token;
    };
    admin = await grant({
      grant_type: 'client_credentials',
      client_id: 'admin-cli',
      client_secret: 'admin-cli-secret',
    });
    const signUp = async (name: string) => {
      const email = `${name}-${randomUUID().slice(0, 8)}@example.com`;
      const password = 'correct-horse-1';
      const response = await fetch(`${lab.urls.gateway}/api/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password, name }),
      });
      expect(response.status).toBe(201);
      return { email, password };
    };
    const ann = await signUp('ann');
    user = {
      ...ann,
      token: await grant({ grant_type: 'password', username: ann.email, password: ann.password }),
    };
    otherUser = await signUp('bob');
  }, 120_000);

  afterAll(async () => {
    await lab?.stop();
  });

  it('answers an Expect: 100-continue storm itself and forwards the requests without it: no breaker opens', async () => {
    for (let i = 0; i < 15; i++) {
      expect(
        (
          await send(`${lab.urls.gateway}/api/products?limit=1`, {
            from: '127.0.0.2',
            headers: { expect: '100-continue' },
          })
        ).status,
      ).toBe(200);
    }
    const withBody = await send(`${lab.urls.gateway}/api/oauth/token`, {
      from: '127.0.0.2',
      method: 'POST',
      headers: { expect: '100-continue', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        username: user.email,
        password: user.password,
      }).toString(),
    });
    expect(withBody.status).toBe(200);
    const orders = await send(`${lab.urls.gateway}/api/orders`, {
      from: '127.0.0.2',
      headers: { expect: '100-continue', authorization: `Bearer ${user.token}` },
    });
    expect(orders.status).toBe(200);
    // An expectation Node cannot meet is answered 417 by the gateway, not passed on.
    expect(
      (
        await sendRaw(
          port,
          'GET /api/products HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nConnection: close\r\n\r\n',
          '127.0.0.2',
        )
      ).status,
    ).toBe(417);
    expect(
      await metricSum(lab.urls.gateway, /^circuit_breaker_not_counted_total\{.*reason="invalid_request"/),
    ).toBe(0);
    await bystanderIsServed('127.0.0.3');
  });

  it('drops Connection, Transfer-Encoding, Upgrade, TE and Proxy-* tricks at the gateway, harming only the sender', async () => {
    const from = '127.0.0.4';
    // A header the Connection field names is the connection's: the token named there never arrives.
    const hidden = await send(`${lab.urls.gateway}/api/customers/me`, {
      from,
      headers: { authorization: `Bearer ${user.token}`, connection: 'keep-alive, authorization' },
    });
    expect(hidden.status).toBe(401);
    const tricks: Record<string, string>[] = [
      { upgrade: 'h2c', connection: 'Upgrade, HTTP2-Settings', 'http2-settings': 'AAMAAABkAAQAAP__' },
      { upgrade: 'websocket', connection: 'Upgrade' },
      { te: 'trailers', 'keep-alive': 'timeout=1, max=1' },
      { 'proxy-authorization': 'Basic Zm9vOmJhcg==', 'proxy-connection': 'keep-alive' },
    ];
    for (const headers of tricks) {
      for (let i = 0; i < 3; i++)
        expect((await send(`${lab.urls.gateway}/api/products?limit=1`, { from, headers })).status).toBe(200);
    }
    const trailers = await sendRaw(
      port,
      'GET /api/products?limit=1 HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nTrailer: x-checksum\r\nConnection: close\r\n\r\n',
      from,
    );
    expect(trailers.status).toBe(200);
    // A chunked body is read whole by the gateway and sent on with its length.
    const chunked = await sendRaw(
      port,
      [
        'POST /api/oauth/token HTTP/1.1',
        'Host: x',
        'Content-Type: application/x-www-form-urlencoded',
        'Transfer-Encoding: chunked',
        'Connection: close',
        '',
        (() => {
          const form = new URLSearchParams({
            grant_type: 'password',
            username: user.email,
            password: user.password,
          }).toString();
          return `${form.length.toString(16)}\r\n${form}\r\n0\r\n\r\n`;
        })(),
      ].join('\r\n'),
      from,
    );
    expect(chunked.status).toBe(200);
    // Smuggling shapes (both lengths, an obfuscated coding) are refused by the gateway's parser.
    for (const smuggle of [
      'POST /api/oauth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n',
      'POST /api/oauth/token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\nConnection: close\r\n\r\n0\r\n\r\n',
    ]) {
      const answer = await sendRaw(port, smuggle, from);
      expect(answer.status).toBe(400);
      expect(answer.text).not.toContain('# HELP');
    }
    expect(
      await metricSum(lab.urls.gateway, /^circuit_breaker_not_counted_total\{.*reason="invalid_request"/),
    ).toBe(0);
    await bystanderIsServed('127.0.0.5');
  });

  it('refuses paths with #, ? and their encoded forms around dot segments; nothing internal is reached', async () => {
    const from = '127.0.0.6';
    const before = await metricSum(
      lab.urls.gateway,
      /^gateway_requests_refused_total\{reason="ambiguous_path"/,
    );
    const targets = [
      '/api/products/..#/metrics',
      '/api/products#/../../metrics',
      '/api/products/%2e%2e%3F/metrics',
      '/api/products/..%23/metrics',
      '/api/products/.%2e;x/metrics',
      '/api/products/%2E%2E%3f',
    ];
    for (const target of targets) {
      const answer = await sendRaw(
        port,
        `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        from,
      );
      expect(answer.status, target).toBe(400);
      expect(answer.text).toContain('ambiguous_path');
    }
    // After `?` it is the query: dots there are the product service's to read, and the route stays /products.
    const query = await sendRaw(
      port,
      'GET /api/products?q=../metrics#x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      from,
    );
    expect(query.status).toBe(400);
    const plainQuery = await send(`${lab.urls.gateway}/api/products?q=..%2Fmetrics&limit=1`, { from });
    expect(plainQuery.status).toBe(200);
    expect(plainQuery.body).not.toContain('# HELP');
    expect(
      await metricSum(lab.urls.gateway, /^gateway_requests_refused_total\{reason="ambiguous_path"/),
    ).toBe(before + targets.length + 1);
    expect(lab.process.output()).toMatch(
      /"message":"refused GET \/api\/products\/%2e%2e%3F\/metrics: a fragment, dot segments/,
    );
    await bystanderIsServed('127.0.0.7');
  });

  it('answers a storm of bad tokens with 429 once over the limit, by address, while others and valid tokens from there pass', async () => {
    const from = '127.0.0.8';
    const STORM = 2 * RATE_LIMIT + 20;
    const statuses: number[] = [];
    for (let i = 0; i < STORM; i++) {
      statuses.push(
        (
          await send(`${lab.urls.gateway}/api/orders`, {
            from,
            headers: { authorization: `Bearer x.y.z${i}` },
          })
        ).status,
      );
    }
    expect(statuses.every((status) => status === 401 || status === 429)).toBe(true);
    // Fixed windows: a boundary during the storm lets at most two windows' worth through.
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(STORM - 2 * RATE_LIMIT);
    expect(
      await metricSum(lab.urls.gateway, /^rate_limited_requests_total\{reason="unauthenticated"/),
    ).toBeGreaterThanOrEqual(STORM - 2 * RATE_LIMIT);
    expect(lab.process.output()).toMatch(
      /ip:127\.0\.0\.8 went over 40 requests per 60 s \(failing authentication\)/,
    );
    // The user's own token from the same address counts against the user, not the address.
    expect(
      (
        await send(`${lab.urls.gateway}/api/orders`, {
          from,
          headers: { authorization: `Bearer ${user.token}` },
        })
      ).status,
    ).toBe(200);
    await bystanderIsServed('127.0.0.9');
  });

  it('limits anonymous clients by their own address, which oauth sees too (X-Forwarded-For from the gateway)', async () => {
    const from = '127.0.0.10';
    const statuses: number[] = [];
    for (let i = 0; i < 2 * RATE_LIMIT + 10; i++)
      statuses.push((await send(`${lab.urls.gateway}/api/products?limit=1`, { from })).status);
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(10);
    expect((await send(`${lab.urls.gateway}/api/products?limit=1`, { from: '127.0.0.11' })).status).toBe(200);

    // oauth's access record of a login names the client's address, not the gateway's.
    const marker = `xff-${randomUUID()}`;
    const answer = await send(`${lab.urls.gateway}/api/oauth/token`, {
      from: '127.0.0.12',
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-request-id': marker,
        'x-forwarded-for': '10.9.9.9',
      },
      body: new URLSearchParams({
        grant_type: 'password',
        username: otherUser.email,
        password: otherUser.password,
      }).toString(),
    });
    expect(answer.status).toBe(200);
    await expect
      .poll(
        () =>
          lab.process
            .output()
            .split('\n')
            .find(
              (line) => line.startsWith('[oauth') && line.includes(marker) && line.includes('client.address'),
            ),
        { timeout: 5000 },
      )
      .toMatch(/"client\.address":"127\.0\.0\.12"/);
    await bystanderIsServed('127.0.0.13');
  });

  it('costs oauth at most one key fetch for a storm of tokens with made-up key ids while it fails every request', async () => {
    const jwksFetches = () =>
      metricSum(
        lab.urls.oauth,
        /^http_server_request_duration_seconds_count\{.*route="\/\.well-known\/jwks\.json"/,
      );
    expect((await faults('oauth', 'PUT', { errorRatio: 1 })).status).toBe(200);
    const before = await jwksFetches();
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const statuses = await Promise.all(
      Array.from({ length: 30 }, (_, i) => {
        const forged = `${encode({ alg: 'RS256', typ: 'at+jwt', kid: randomUUID() })}.${encode({ sub: `x${i}` })}.c2ln`;
        return send(`${lab.urls.gateway}/api/customers/me`, {
          from: '127.0.0.14',
          headers: { authorization: `Bearer ${forged}` },
        }).then((a) => a.status);
      }),
    );
    expect(statuses.every((status) => status === 401)).toBe(true);
    expect((await jwksFetches()) - before).toBeLessThanOrEqual(1);
    // Ordinary clients with valid tokens and the catalogue are served meanwhile; logins fail (oauth is failing on purpose).
    expect((await send(`${lab.urls.gateway}/api/products?limit=1`, { from: '127.0.0.15' })).status).toBe(200);
    expect(
      (
        await send(`${lab.urls.gateway}/api/customers/me`, {
          from: '127.0.0.15',
          headers: { authorization: `Bearer ${user.token}` },
        })
      ).status,
    ).toBe(200);
    expect((await faults('oauth', 'DELETE')).status).toBe(200);
    await bystanderIsServed('127.0.0.15');
  });

  it('ends a burst of wrong passwords in oauth fast answers (429/503), never gateway timeouts, and another user logs in', async () => {
    const from = '127.0.0.16';
    const timeoutsBefore = await metricSum(
      lab.urls.gateway,
      /^http_server_request_duration_seconds_count\{.*status_code="504"/,
    );
    const statuses = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        login('admin@lab.local', `wrong-${i}`, from).then((a) => a.status),
      ),
    );
    const counts = statuses.reduce<Record<number, number>>(
      (all, s) => ({ ...all, [s]: (all[s] ?? 0) + 1 }),
      {},
    );
    console.info(`40 parallel wrong passwords for one account: ${JSON.stringify(counts)}`);
    expect(statuses.every((status) => [400, 401, 429, 503].includes(status))).toBe(true);
    expect(
      await metricSum(lab.urls.gateway, /^http_server_request_duration_seconds_count\{.*status_code="504"/),
    ).toBe(timeoutsBefore);
    await bystanderIsServed('127.0.0.17');
  }, 60_000);
});
