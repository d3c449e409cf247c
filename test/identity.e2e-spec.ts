import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Contract, type RunningLab, startLab } from '#lab/testing';

const ISSUER = 'http://localhost:3000';
const AUDIENCE = 'observability-lab';
const ADMIN = { email: 'admin@lab.local', password: 'admin-password' };

interface TokenResponse {
  access_token: string;
  refresh_token?: string;
  token_type: string;
  expires_in: number;
  scope: string;
}

const rsaKey = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A GET with the path sent byte for byte (fetch would resolve `..` before sending). */
function rawGet(base: string, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const request = httpRequest(`${base}/`, { path, headers }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

/**
 * Calls through the gateway at `base()` (read at call time: the lab starts in beforeAll) with `send` (a
 * contract's fetch checks every answer against the OpenAPI document).
 */
function client(base: () => string, send: (input: string, init?: RequestInit) => Promise<Response> = fetch) {
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    send(`${base()}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const tokenRequest = (fields: Record<string, string>) =>
    send(`${base()}/api/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  const passwordGrant = async (email: string, password: string): Promise<TokenResponse> => {
    const response = await tokenRequest({ grant_type: 'password', username: email, password });
    expect(response.status).toBe(200);
    return (await response.json()) as TokenResponse;
  };
  const signUp = async (name: string) => {
    const email = `${name}-${randomUUID().slice(0, 8)}@example.com`;
    const password = `pw-${randomUUID()}`;
    const response = await post('/api/users', { email, password, name });
    expect(response.status).toBe(201);
    const { id } = (await response.json()) as { id: string };
    const tokens = await passwordGrant(email, password);
    return { id, email, password, token: tokens.access_token, refresh: tokens.refresh_token ?? '' };
  };
  const me = (token: string, root = `${base()}/api`, headers: Record<string, string> = {}) =>
    send(`${root}/customers/me`, { headers: { authorization: `Bearer ${token}`, ...headers } });

  return { post, tokenRequest, passwordGrant, signUp, me };
}

describe('identity through the gateway (oauth, customer, gateway running for real)', () => {
  const signingKey = rsaKey();
  let lab: RunningLab;
  let api: string;
  let kid: string;
  let user: { id: string; email: string; password: string; token: string; refresh: string };

  // Every answer through the gateway is checked against the public OpenAPI document.
  let contract: Contract;
  const { post, tokenRequest, passwordGrant, signUp, me } = client(
    () => api,
    (input, init) => contract.fetch(input, init),
  );

  /** A token with the lab's claims, signed with the given key; overrides replace or (undefined) remove claims. */
  const forge = (
    claims: Record<string, unknown> = {},
    header: Record<string, unknown> = {},
    key: KeyObject = signingKey.privateKey,
  ) => {
    const now = Math.floor(Date.now() / 1000);
    const payload = Object.fromEntries(
      Object.entries({
        iss: ISSUER,
        aud: AUDIENCE,
        sub: user.id,
        client_id: 'lab-web',
        scope: 'profile orders',
        jti: randomUUID(),
        iat: now,
        exp: now + 300,
        ...claims,
      }).filter(([, value]) => value !== undefined),
    );
    return new SignJWT(payload)
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid, ...header } as { alg: string })
      .sign(key);
  };

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lab-key-'));
    const keyFile = join(dir, 'signing-key.pem');
    writeFileSync(keyFile, signingKey.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    lab = await startLab({ OAUTH_SIGNING_KEY_FILE: keyFile, JWKS_COOLDOWN_MS: '0' });
    api = lab.urls.gateway;
    contract = await Contract.load(api);
    const jwks = (await (await contract.fetch(`${api}/.well-known/jwks.json`)).json()) as {
      keys: { kid: string }[];
    };
    kid = jwks.keys[0].kid;
    user = await signUp('ann');
  }, 90_000);

  afterAll(async () => {
    await lab?.stop();
  });

  it('signs a user up, issues a token with the password grant and returns their profile', async () => {
    const header = decodeProtectedHeader(user.token);
    expect(header).toMatchObject({ alg: 'RS256', typ: 'at+jwt', kid });
    expect(decodeJwt(user.token)).toMatchObject({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: user.id,
      scope: 'profile orders',
    });
    const response = await me(user.token);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBeTruthy();
    expect(await response.json()).toMatchObject({ userId: user.id, email: user.email, name: 'ann' });
  });

  it('rotates refresh tokens and revokes the family when a used one is presented again', async () => {
    const first = await tokenRequest({ grant_type: 'refresh_token', refresh_token: user.refresh });
    expect(first.status).toBe(200);
    const rotated = (await first.json()) as TokenResponse;
    expect(rotated.refresh_token).toBeTruthy();
    expect(rotated.refresh_token).not.toBe(user.refresh);
    expect((await me(rotated.access_token)).status).toBe(200);

    const reuse = await tokenRequest({ grant_type: 'refresh_token', refresh_token: user.refresh });
    expect(reuse.status).toBe(400);
    expect(await reuse.json()).toMatchObject({ error: 'invalid_grant' });
    const familyRevoked = await tokenRequest({
      grant_type: 'refresh_token',
      refresh_token: rotated.refresh_token ?? '',
    });
    expect(familyRevoked.status).toBe(400);
  });

  it('accepts a token forged correctly with the real key (the cases below fail for their own reason)', async () => {
    expect((await me(await forge())).status).toBe(200);
  });

  const invalid: [string, () => Promise<string | undefined>][] = [
    ['no token', async () => undefined],
    [
      'alg none',
      async () => `${b64url({ alg: 'none', typ: 'at+jwt', kid })}.${b64url(decodeJwt(await forge()))}.`,
    ],
    [
      'HS256 signed with the public key',
      async () => {
        const secret = new Uint8Array(
          Buffer.from(signingKey.publicKey.export({ type: 'spki', format: 'pem' })),
        );
        return new SignJWT(decodeJwt(await forge()))
          .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid })
          .sign(secret);
      },
    ],
    ['an unknown kid', () => forge({}, { kid: 'not-a-key-of-ours' })],
    ['a key not in the JWKS (claiming a real kid)', () => forge({}, {}, rsaKey().privateKey)],
    ['a wrong issuer', () => forge({ iss: 'http://evil.example' })],
    ['a wrong audience', () => forge({ aud: 'another-api' })],
    [
      'an expired token',
      () => forge({ iat: Math.floor(Date.now() / 1000) - 600, exp: Math.floor(Date.now() / 1000) - 120 }),
    ],
    ['nbf in the future', () => forge({ nbf: Math.floor(Date.now() / 1000) + 120 })],
    ['no exp', () => forge({ exp: undefined })],
    ['a wrong typ', () => forge({}, { typ: 'JWT' })],
    [
      'a tampered payload',
      async () => {
        const [header, , signature] = (await forge()).split('.');
        return `${header}.${b64url({ ...decodeJwt(await forge()), scope: 'profile orders admin' })}.${signature}`;
      },
    ],
  ];

  it.each(invalid)(
    'answers 401 for %s at the gateway, before any backend, and at the backend itself',
    async (_name, make) => {
      const token = await make();
      const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
      const viaGateway = await contract.fetch(`${api}/api/customers/me`, { headers });
      expect(viaGateway.status).toBe(401);
      expect(viaGateway.headers.get('www-authenticate')).toMatch(/^Bearer realm="observability-lab"/);
      expect(viaGateway.headers.get('content-type')).toContain('application/problem+json');
      // The gateway answered itself: a backend's problem would name its own path (/customers/me).
      expect(await viaGateway.json()).toMatchObject({ status: 401, instance: '/api/customers/me' });
      const direct = await fetch(`${lab.urls.customer}/customers/me`, { headers });
      expect(direct.status).toBe(401);
    },
  );

  it('refuses key rotation to a user without the admin scope', async () => {
    const response = await contract.fetch(`${api}/api/oauth/keys/rotate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user.token}` },
    });
    expect(response.status).toBe(403);
  });

  it("hides another user's customer record behind a 404", async () => {
    const other = await signUp('bob');
    const profile = (await (await me(other.token)).json()) as { id: string };
    const response = await contract.fetch(`${api}/api/customers/${profile.id}`, {
      headers: { authorization: `Bearer ${user.token}` },
    });
    expect(response.status).toBe(404);
    const own = (await (await me(user.token)).json()) as { id: string };
    expect(
      (
        await contract.fetch(`${api}/api/customers/${own.id}`, {
          headers: { authorization: `Bearer ${user.token}` },
        })
      ).status,
    ).toBe(200);
  });

  it('lets an admin list customers and forbids it to users', async () => {
    const admin = await passwordGrant(ADMIN.email, ADMIN.password);
    const list = await contract.fetch(`${api}/api/customers?limit=2`, {
      headers: { authorization: `Bearer ${admin.access_token}` },
    });
    expect(list.status).toBe(200);
    expect(await list.json()).toMatchObject({
      page: 1,
      limit: 2,
      items: expect.any(Array),
      total: expect.any(Number),
    });
    expect(
      (await contract.fetch(`${api}/api/customers`, { headers: { authorization: `Bearer ${user.token}` } }))
        .status,
    ).toBe(403);
  });

  it('updates the own profile and rejects unknown fields with 400', async () => {
    const patch = (body: unknown) =>
      contract.fetch(`${api}/api/customers/me`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const unknown = await patch({ name: 'Ann B', role: 'admin' });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ status: 400, errors: [expect.stringContaining('role')] });
    const ok = await patch({
      name: 'Ann B',
      address: { line1: '1 Main St', city: 'Berlin', postalCode: '10115', country: 'DE' },
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ name: 'Ann B', address: { city: 'Berlin' } });
  });

  it('ignores a spoofed x-user-id header', async () => {
    const other = await signUp('carl');
    const response = await me(user.token, `${api}/api`, {
      'x-user-id': other.id,
      'x-internal-caller': 'oauth',
    });
    expect(((await response.json()) as { userId: string }).userId).toBe(user.id);
  });

  it('refuses paths with dot segments or backslashes instead of letting them reach routes the gateway never exposes', async () => {
    const auth = { authorization: `Bearer ${user.token}` };
    for (const [path, headers] of [
      ['/.well-known/../metrics', {}],
      ['/.well-known/%2e%2e/metrics', {}],
      ['/api/products/.%2E/metrics', {}],
      ['/api/customers/../health/ready', auth],
      ['/api/customers/..\\metrics', auth],
      ['/api/customers/./me', auth],
      ['/api/customers/..#/me', auth],
      ['/api/customers/%2e%2e%3f/health/ready', auth],
      ['/.well-known/..%23/metrics', {}],
    ] as const) {
      const response = await rawGet(api, path, headers);
      expect(response.status, path).toBe(400);
      expect(JSON.parse(response.body), path).toMatchObject({
        status: 400,
        code: 'ambiguous_path',
        detail: expect.stringContaining("'..'"),
      });
      expect(response.body, path).not.toContain('# HELP');
    }
    // A dot inside a segment, or `..` in the query, is an ordinary request.
    expect((await rawGet(api, '/.well-known/openid-configuration?x=..')).status).toBe(200);
  });

  it('answers 413 to an oversized body at the gateway, without forwarding it', async () => {
    // node:http, not fetch: the gateway answers 413 from the content-length alone, and may close the
    // connection while a 2 MB body is still being sent, which makes fetch fail with a socket error.
    // So only the start of the body is sent, and the request is dropped once the answer is in.
    const body = JSON.stringify({ email: 'big@example.com', password: 'x'.repeat(2_000_000), name: 'big' });
    const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpRequest(`${api}/api/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      });
      request.on('response', (answer) => {
        let text = '';
        answer.setEncoding('utf8');
        answer.on('data', (chunk: string) => (text += chunk));
        answer.on('end', () => {
          resolve({ status: answer.statusCode ?? 0, body: text });
          request.destroy();
        });
      });
      request.on('error', reject);
      request.write(body.slice(0, 1024));
    });
    expect(response.status).toBe(413);
    expect(JSON.parse(response.body)).toMatchObject({ status: 413, instance: '/api/users' });
    expect(
      (await tokenRequest({ grant_type: 'password', username: 'big@example.com', password: 'whatever1' }))
        .status,
    ).toBe(400);
  });

  it('answers token and sign-up errors in RFC 6749 / problem+json shape, never with a stack trace', async () => {
    const wrong = await tokenRequest({
      grant_type: 'password',
      username: user.email,
      password: 'not-the-password',
    });
    expect(wrong.status).toBe(400);
    const wrongBody = await wrong.text();
    expect(JSON.parse(wrongBody)).toMatchObject({ error: 'invalid_grant' });
    const unsupported = await tokenRequest({ grant_type: 'authorization_code', code: 'x' });
    expect(unsupported.status).toBe(400);
    expect(await unsupported.json()).toMatchObject({ error: 'unsupported_grant_type' });
    const duplicate = await post('/api/users', { email: user.email, password: 'password-123', name: 'dup' });
    expect(duplicate.status).toBe(409);
    expect(duplicate.headers.get('content-type')).toContain('application/problem+json');
    const invalid = await post('/api/users', { email: 'not-an-email', password: 'short', name: '' });
    expect(invalid.status).toBe(400);
    for (const body of [wrongBody, await duplicate.text(), await invalid.text()]) {
      expect(body).not.toMatch(/\bat .+\.(js|ts):\d+/);
    }
  });
});

describe('signing key rotation (keys generated and stored by the oauth service)', () => {
  let rotationLab: RunningLab;
  const { passwordGrant, signUp, me } = client(() => rotationLab.urls.gateway);

  beforeAll(async () => {
    rotationLab = await startLab({ JWKS_COOLDOWN_MS: '0' });
  }, 90_000);

  afterAll(async () => {
    await rotationLab?.stop();
  });

  it('keeps tokens signed before a key rotation valid and signs new ones with the new key, without restarts', async () => {
    const admin = await passwordGrant(ADMIN.email, ADMIN.password);
    const before = await signUp('rotation');
    const oldKid = decodeProtectedHeader(before.token).kid;
    const rotate = await fetch(`${rotationLab.urls.gateway}/api/oauth/keys/rotate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin.access_token}` },
    });
    expect(rotate.status).toBeLessThan(300);
    const { kid: newKid } = (await rotate.json()) as { kid: string };
    expect(newKid).not.toBe(oldKid);

    const jwks = (await (await fetch(`${rotationLab.urls.gateway}/.well-known/jwks.json`)).json()) as {
      keys: { kid: string }[];
    };
    expect(jwks.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([oldKid, newKid]));
    expect((await me(before.token)).status).toBe(200);
    const after = await passwordGrant(before.email, before.password);
    expect(decodeProtectedHeader(after.access_token).kid).toBe(newKid);
    expect((await me(after.access_token)).status).toBe(200);
    expect((await me(after.access_token, rotationLab.urls.customer)).status).toBe(200);
  });
});
