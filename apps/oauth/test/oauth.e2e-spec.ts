import { freePort, type RunningProcess, startNode, waitForHttp } from '#lab/testing';
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CustomerServiceStandIn } from './customer-service-stand-in.js';

const ISSUER = 'http://localhost:3000';
const AUDIENCE = 'observability-lab';
const MAX_FAILURES = 3;

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

describe('oauth service (real process)', () => {
  let oauth: RunningProcess;
  let customers: CustomerServiceStandIn;
  let base: string;
  const errorBodies: string[] = [];

  async function call(
    method: string,
    path: string,
    options: { form?: Record<string, string>; json?: unknown; headers?: Record<string, string> } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = { ...options.headers };
    let body: string | undefined;
    if (options.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(options.form).toString();
    } else if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    }
    const response = await fetch(`${base}${path}`, { method, headers, body });
    const text = await response.text();
    if (response.status >= 400) errorBodies.push(text);
    return {
      status: response.status,
      headers: response.headers,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  }
  const token = (form: Record<string, string>, headers?: Record<string, string>) =>
    call('POST', '/oauth/token', { form, headers });
  const signIn = (username: string, password: string) =>
    token({ grant_type: 'password', username, password });
  const jwks = async () => (await call('GET', '/.well-known/jwks.json')).body as unknown as JSONWebKeySet;
  const verify = async (accessToken: string) =>
    jwtVerify(accessToken, createLocalJWKSet(await jwks()), {
      issuer: ISSUER,
      audience: AUDIENCE,
      typ: 'at+jwt',
      algorithms: ['RS256'],
    });
  const basic = (id: string, secret: string) => ({
    authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
  });
  const ada = { email: 'Ada@Example.com', password: 'analytical-engine', name: 'Ada Lovelace' };

  beforeAll(async () => {
    customers = await CustomerServiceStandIn.start();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    oauth = startNode('dist/apps/oauth/src/main.js', [], {
      env: {
        OAUTH_PORT: String(port),
        OAUTH_URL: base,
        HOST: '127.0.0.1',
        MONGO_URL: '',
        CUSTOMER_URL: customers.url,
        JWT_ISSUER: ISSUER,
        JWT_AUDIENCE: AUDIENCE,
        LOGIN_MAX_FAILURES: String(MAX_FAILURES),
        LOGIN_WINDOW_SECONDS: '60',
        // As under Compose: the default secrets are named in a warning at start.
        NODE_ENV: 'production',
      },
    });
    await waitForHttp(`${base}/health/ready`, 200, 20_000);
  });

  afterAll(async () => {
    oauth?.signal('SIGTERM');
    await oauth?.exited;
    await customers?.close();
  });

  it('names each secret still at its development default in a warning at start under NODE_ENV=production, never its value', () => {
    const warnings = oauth
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((record) => record.context === 'Secrets');
    expect(warnings.map((record) => [record.level, String(record.message).split(' ')[0]])).toEqual([
      ['warn', 'OAUTH_ADMIN_PASSWORD'],
      ['warn', 'ORDER_CLIENT_SECRET'],
      ['warn', 'ADMIN_CLIENT_SECRET'],
    ]);
    expect(oauth.output()).not.toMatch(/admin-password|order-service-secret|admin-cli-secret/);
  });

  it('publishes its discovery document and a JWKS holding one RS256 public key', async () => {
    const discovery = await call('GET', '/.well-known/openid-configuration');
    expect(discovery.body).toMatchObject({
      issuer: ISSUER,
      jwks_uri: `${ISSUER}/.well-known/jwks.json`,
      token_endpoint: `${ISSUER}/api/oauth/token`,
      grant_types_supported: ['password', 'client_credentials', 'refresh_token'],
      token_endpoint_auth_methods_supported: expect.arrayContaining([
        'client_secret_basic',
        'client_secret_post',
      ]),
      id_token_signing_alg_values_supported: ['RS256'],
      scopes_supported: expect.arrayContaining(['profile', 'orders', 'admin']),
    });
    const answer = await call('GET', '/.well-known/jwks.json');
    expect(answer.headers.get('cache-control')).toBe('public, max-age=60');
    const keys = answer.body.keys as Record<string, unknown>[];
    expect(keys).toHaveLength(1);
    expect(Object.keys(keys[0]).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
    expect(keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: expect.any(String) });
  });

  it('signs a user up and creates the customer profile with a customers:create service token', async () => {
    const answer = await call('POST', '/users', { json: ada });
    expect(answer.status).toBe(201);
    expect(answer.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{24}$/),
      email: 'ada@example.com',
      name: ada.name,
      createdAt: expect.any(String),
    });
    const request = customers.requestFor('ada@example.com');
    expect(request?.body).toEqual({ userId: answer.body.id, email: 'ada@example.com', name: ada.name });
    const serviceToken = /^Bearer (\S+)$/.exec(request?.authorization ?? '')?.[1] ?? '';
    const { payload } = await verify(serviceToken);
    expect(payload).toMatchObject({
      sub: 'oauth-service',
      client_id: 'oauth-service',
      scope: 'customers:create',
    });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBeLessThanOrEqual(60);
  });

  it('answers 409 to a second sign-up with the same email and 400 to an unknown field', async () => {
    const duplicate = await call('POST', '/users', { json: { ...ada, email: 'ADA@example.com' } });
    expect(duplicate.status).toBe(409);
    expect(duplicate.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const unknownField = await call('POST', '/users', {
      json: { ...ada, email: 'other@example.com', role: 'admin' },
    });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.errors).toEqual(['property role should not exist']);
  });

  it('answers 503 and keeps no account when the customer service fails, so the sign-up works once it recovers', async () => {
    const babbage = { email: 'charles@example.com', password: 'difference-engine', name: 'Charles Babbage' };
    customers.status = 503;
    const failed = await call('POST', '/users', { json: babbage });
    expect(failed.status).toBe(503);
    expect(failed.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    customers.status = 201;
    expect((await call('POST', '/users', { json: babbage })).status).toBe(201);
  });

  it('issues an RS256 at+jwt access token with the expected claims, and a refresh token, for the password grant', async () => {
    const answer = await signIn('ada@example.com', ada.password);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.body).toMatchObject({
      token_type: 'Bearer',
      expires_in: 900,
      scope: 'profile orders',
      refresh_token: expect.any(String),
    });
    const accessToken = String(answer.body.access_token);
    const [published] = (await jwks()).keys;
    expect(decodeProtectedHeader(accessToken)).toEqual({ alg: 'RS256', typ: 'at+jwt', kid: published.kid });
    const { payload } = await verify(accessToken);
    const userId = customers.requestFor('ada@example.com')?.body.userId;
    expect(payload).toMatchObject({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: userId,
      client_id: 'lab-web',
      scope: 'profile orders',
    });
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(900);
  });

  it('rotates refresh tokens, and revokes the family when a spent one comes back', async () => {
    const first = String((await signIn('ada@example.com', ada.password)).body.refresh_token);
    const renewed = await token({ grant_type: 'refresh_token', refresh_token: first });
    expect(renewed.status).toBe(200);
    expect(renewed.body).toMatchObject({ scope: 'profile orders', refresh_token: expect.any(String) });
    const second = String(renewed.body.refresh_token);
    expect(second).not.toBe(first);

    const replayed = await token({ grant_type: 'refresh_token', refresh_token: first });
    expect(replayed).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const afterReplay = await token({ grant_type: 'refresh_token', refresh_token: second });
    expect(afterReplay).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('issues service tokens for client credentials in the body or a Basic header, and refuses a wrong secret', async () => {
    const inBody = await token({
      grant_type: 'client_credentials',
      client_id: 'order-service',
      client_secret: 'order-service-secret',
    });
    expect(inBody.status).toBe(200);
    expect(inBody.body).toMatchObject({ token_type: 'Bearer', scope: 'stock:reserve' });
    expect(inBody.body).not.toHaveProperty('refresh_token');
    expect((await verify(String(inBody.body.access_token))).payload).toMatchObject({
      sub: 'order-service',
      client_id: 'order-service',
    });

    const withBasic = await token(
      { grant_type: 'client_credentials' },
      basic('admin-cli', 'admin-cli-secret'),
    );
    expect(withBasic).toMatchObject({ status: 200, body: { scope: 'admin products:write customers:read' } });

    const wrong = await token({ grant_type: 'client_credentials' }, basic('admin-cli', 'not-the-secret'));
    expect(wrong).toMatchObject({
      status: 401,
      body: { error: 'invalid_client', error_description: expect.any(String) },
    });
    expect(wrong.headers.get('www-authenticate')).toBe('Basic realm="observability-lab"');
    expect(wrong.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('answers unsupported_grant_type to a grant it does not know', async () => {
    expect(await token({ grant_type: 'authorization_code', code: 'x' })).toMatchObject({
      status: 400,
      body: { error: 'unsupported_grant_type' },
    });
  });

  it('rotates the signing key for an admin token only, keeping the previous key published for its tokens', async () => {
    const before = String(
      (await token({ grant_type: 'client_credentials' }, basic('admin-cli', 'admin-cli-secret'))).body
        .access_token,
    );
    const userToken = String((await signIn('ada@example.com', ada.password)).body.access_token);

    expect((await call('POST', '/oauth/keys/rotate')).status).toBe(401);
    expect(
      (await call('POST', '/oauth/keys/rotate', { headers: { authorization: `Bearer ${userToken}` } }))
        .status,
    ).toBe(403);

    const rotated = await call('POST', '/oauth/keys/rotate', {
      headers: { authorization: `Bearer ${before}` },
    });
    expect(rotated.status).toBe(200);
    const { kid, previousKid } = rotated.body;
    expect(previousKid).toBe(decodeProtectedHeader(before).kid);
    expect(kid).not.toBe(previousKid);
    expect((await jwks()).keys.map((key) => key.kid)).toEqual([kid, previousKid]);

    const after = String(
      (await token({ grant_type: 'client_credentials' }, basic('admin-cli', 'admin-cli-secret'))).body
        .access_token,
    );
    expect(decodeProtectedHeader(after).kid).toBe(kid);
    await expect(verify(before)).resolves.toBeDefined();
    await expect(verify(after)).resolves.toBeDefined();
  });

  // Last among the password grants: the failures also count against this test's address.
  it('refuses a wrong password with invalid_grant, and after LOGIN_MAX_FAILURES failures for one account answers 429 with Retry-After', async () => {
    for (let attempt = 1; attempt <= MAX_FAILURES; attempt++) {
      const wrong = await signIn('ada@example.com', `wrong-${attempt}`);
      expect(wrong).toMatchObject({
        status: 400,
        body: { error: 'invalid_grant', error_description: 'invalid username or password' },
      });
    }
    const blocked = await signIn('ada@example.com', ada.password);
    expect(blocked).toMatchObject({ status: 429, body: { error: 'invalid_grant' } });
    const retryAfter = Number(blocked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // The address made as many failures, but its own limit is higher: other users behind it still sign in.
    expect((await signIn('charles@example.com', 'difference-engine')).status).toBe(200);
  });

  it('never puts a stack trace in an error body', () => {
    expect(errorBodies.length).toBeGreaterThan(10);
    for (const body of errorBodies) expect(body).not.toMatch(/"stack"|\n\s+at |\.[jt]s:\d+:\d+/);
  });
});
