import { AsyncLocalStorage } from 'node:async_hooks';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '#lab/config';
import { FaultInjection, FaultState } from '#lab/faults';
import { ServiceClient } from '#lab/http-client';
import { Metrics } from '#lab/telemetry';
import { TraceService } from 'nestjs-otel';
import { ServiceTokenProvider } from './service-token.provider.js';

/** A stand-in for oauth's token endpoint: each grant is held until the test answers it (`t1`, `t2`, …, 900 s). */
const held: ServerResponse[] = [];
let grants = 0;
let server: Server;
let url: string;
const answerNext = () => {
  const response = held.shift();
  if (!response) throw new Error('no grant is waiting');
  response
    .writeHead(200, { 'content-type': 'application/json' })
    .end(JSON.stringify({ access_token: `t${++grants}`, token_type: 'Bearer', expires_in: 900 }));
};
const waitForGrants = async (count: number) => {
  for (let i = 0; i < 200 && held.length < count; i++)
    await new Promise((resolve) => setTimeout(resolve, 10));
  expect(held).toHaveLength(count);
};

beforeAll(async () => {
  server = createServer((request, response) => {
    request.resume();
    request.on('end', () => held.push(response));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

/** The order service's HTTP client, with oauth at the stand-in. */
const clientOfOauth = () =>
  new ServiceClient(
    loadConfig('order', { OAUTH_URL: url }),
    new FaultInjection(new FaultState(), new TraceService(), new Metrics()),
    new Metrics(),
    new TraceService(),
  );

describe(ServiceTokenProvider.name, () => {
  let http: ServiceClient | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    await http?.onModuleDestroy();
  });

  it('renews the token in the background in its last minute, callers keeping the valid one meanwhile', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    http = clientOfOauth();
    const tokens = new ServiceTokenProvider(http, 'order-service', 'secret');
    const first = tokens.token();
    await waitForGrants(1);
    answerNext();
    expect(await first).toBe('t1');

    // 845 s later (the token expires at 900 s): the same token at once, while one renewal runs.
    vi.setSystemTime(Date.now() + 845_000);
    expect(await tokens.token()).toBe('t1');
    expect(await tokens.token()).toBe('t1');
    await waitForGrants(1);
    answerNext();
    await vi.waitFor(async () => expect(await tokens.token()).toBe('t2'));
    expect(grants).toBe(2);

    // Without a token valid for another 30 s, a caller waits for the grant, as before.
    vi.setSystemTime(Date.now() + 875_000);
    const waited = tokens.token();
    await waitForGrants(1);
    answerNext();
    expect(await waited).toBe('t3');
  });

  it('renews in the background outside the context of the request that triggered it (trace, request id), and says when it failed', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    http = clientOfOauth();
    const request = new AsyncLocalStorage<string>();
    const seen: string[] = [];
    let failNext = false;
    const watched = Object.create(http, {
      call: {
        value: (...args: Parameters<ServiceClient['call']>) => {
          seen.push(request.getStore() ?? 'none');
          if (failNext) {
            failNext = false;
            return Promise.reject(new Error('connect ECONNREFUSED'));
          }
          return http!.call(...args);
        },
      },
    }) as ServiceClient;
    const tokens = new ServiceTokenProvider(watched, 'order-service', 'secret');
    const warnings: string[] = [];
    vi.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => {
      warnings.push(String(message));
    });
    const first = request.run('request-1', () => tokens.token());
    await waitForGrants(1);
    answerNext();
    const token = await first;
    expect(seen).toEqual(['request-1']); // a caller waiting for it: its own call

    vi.setSystemTime(Date.now() + 845_000);
    failNext = true;
    expect(await request.run('request-2', () => tokens.token())).toBe(token);
    await vi.waitFor(() => expect(warnings.join()).toMatch(/in the background failed.*ECONNREFUSED/));
    expect(seen).toEqual(['request-1', 'none']);
    vi.restoreAllMocks();
  });
});
