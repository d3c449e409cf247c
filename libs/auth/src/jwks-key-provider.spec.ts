import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '#lab/config';
import { Metrics } from '#lab/telemetry';
import { AuthMetrics } from './auth.metrics.js';
import { JwksKeyProvider } from './jwks-key-provider.js';

/** A stand-in for oauth's `/.well-known/jwks.json`: serves one key, or fails; counts the fetches. */
let failing = false;
let fetches = 0;
let server: Server;
let url: string;
let jwks: { keys: object[] };
let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  privateKey = pair.privateKey;
  jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] };
  server = createServer((_request, response) => {
    fetches++;
    if (failing) {
      response.writeHead(500).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

const token = (kid: string) =>
  new SignJWT({ sub: 'u' }).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid }).sign(privateKey);
const provider = (env: Record<string, string>) =>
  new JwksKeyProvider(loadConfig('gateway', { OAUTH_URL: url, ...env }), new AuthMetrics(new Metrics()));

describe(JwksKeyProvider.name, () => {
  it('fetches the keys at most once per cooldown for tokens with unknown key ids, whether the fetch succeeded or failed', async () => {
    for (const fail of [false, true]) {
      failing = fail;
      fetches = 0;
      const keys = provider({ JWKS_COOLDOWN_MS: '60000' });
      const rejected = await Promise.allSettled(
        Array.from({ length: 30 }, async () => keys.keyFor(await token(`random-${Math.random()}`))),
      );
      for (const result of rejected) expect(result.status).toBe('rejected');
      for (let i = 0; i < 10; i++) await expect(keys.keyFor(await token(`later-${i}`))).rejects.toThrow();
      expect(fetches).toBe(1);
    }
    failing = false;
  });

  it('accepts a key rotated in just after a fetch once the cooldown ends, with one fetch for every waiting token', async () => {
    failing = false;
    fetches = 0;
    const keys = provider({ JWKS_COOLDOWN_MS: '1000' });
    expect(await keys.keyFor(await token('k1'))).toBeDefined();
    const rotated = await generateKeyPair('RS256');
    const saved = jwks.keys;
    jwks = {
      keys: [...saved, { ...(await exportJWK(rotated.publicKey)), kid: 'k2', alg: 'RS256', use: 'sig' }],
    };
    try {
      const newToken = () =>
        new SignJWT({ sub: 'u' })
          .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'k2' })
          .sign(rotated.privateKey);
      const found = await Promise.all(Array.from({ length: 5 }, async () => keys.keyFor(await newToken())));
      for (const key of found) expect(key).toBeDefined();
      expect(fetches).toBe(2);
    } finally {
      jwks = { keys: saved };
    }
  });

  it('keeps the keys it holds when a refetch fails after they aged out', async () => {
    failing = false;
    fetches = 0;
    const keys = provider({ JWKS_COOLDOWN_MS: '0', JWKS_MAX_AGE_MS: '1000' });
    expect(await keys.keyFor(await token('k1'))).toBeDefined();
    failing = true;
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await keys.keyFor(await token('k1'))).toBeDefined();
    expect(fetches).toBe(2);
    failing = false;
  });
});
