import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createService } from '#lab/bootstrap';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CustomerServiceStandIn } from '../../test/customer-service-stand-in.js';
import { AppModule } from '../app.module.js';
import { TokensController } from './tokens.controller.js';

const form = (fields: Record<string, string | string[]>) =>
  Object.entries(fields)
    .flatMap(([name, values]) => [values].flat().map((value) => `${name}=${encodeURIComponent(value)}`))
    .join('&');
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

describe(TokensController.name, () => {
  let app: NestFastifyApplication;
  let customers: CustomerServiceStandIn;

  async function token(
    body: Record<string, string | string[]> | string,
    headers: Record<string, string> = {},
  ) {
    const json = typeof body === 'string';
    const response = await app
      .getHttpAdapter()
      .getInstance()
      .inject({
        method: 'POST',
        url: '/oauth/token',
        headers: {
          'content-type': json ? 'application/json' : 'application/x-www-form-urlencoded',
          ...headers,
        },
        payload: json ? body : form(body),
      });
    return {
      status: response.statusCode,
      headers: response.headers,
      body: response.json<Record<string, unknown>>(),
    };
  }
  const admin = { grant_type: 'password', username: 'admin@lab.local', password: 'admin-password' };

  beforeAll(async () => {
    customers = await CustomerServiceStandIn.start();
    // configFor('oauth') reads the environment once per process, when the app is created.
    Object.assign(process.env, { MONGO_URL: '', CUSTOMER_URL: customers.url, LOGIN_MAX_FAILURES: '5' });
    app = await createService('oauth', AppModule);
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });
  afterAll(async () => {
    await app?.close();
    await customers?.close();
  });

  it('accepts a JSON body and ignores parameters it does not know (RFC 6749 §3.2)', async () => {
    const response = await token(
      JSON.stringify({ ...admin, scope: 'profile admin', resource: 'https://example.com' }),
    );
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ token_type: 'Bearer', scope: 'profile admin' });
  });

  it('answers invalid_request as application/json, uncacheable, for a missing or repeated parameter', async () => {
    for (const body of [
      { grant_type: 'password', username: 'a@b.c' },
      { ...admin, username: ['a@b.c', 'd@e.f'] },
    ]) {
      const response = await token(body);
      expect(response.status).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.body).toMatchObject({
        error: 'invalid_request',
        error_description: expect.any(String),
      });
    }
    expect((await token(JSON.stringify([1]))).body).toMatchObject({ error: 'invalid_request' });
  });

  it('grants a requested subset of the user scopes and refuses a scope beyond them', async () => {
    expect((await token({ ...admin, scope: 'orders' })).body).toMatchObject({ scope: 'orders' });
    const refused = await token({ ...admin, scope: 'orders stock:reserve' });
    expect(refused).toMatchObject({
      status: 400,
      body: { error: 'invalid_scope', error_description: 'scope not allowed: stock:reserve' },
    });
  });

  it('keeps the password grant for the public client', async () => {
    expect((await token({ ...admin, client_id: 'lab-web' })).status).toBe(200);
    expect(await token({ ...admin, client_id: 'order-service' })).toMatchObject({
      status: 400,
      body: { error: 'unauthorized_client' },
    });
    const unknown = await token({ ...admin, client_id: 'somebody' });
    expect(unknown).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(unknown.headers['www-authenticate']).toBe('Basic realm="observability-lab"');
  });

  it('refuses the public client, two authentication methods at once, and unreadable Basic credentials', async () => {
    expect(
      await token({
        grant_type: 'client_credentials',
        client_id: 'lab-web',
        client_secret: 'whatever-it-is',
      }),
    ).toMatchObject({
      status: 400,
      body: { error: 'unauthorized_client' },
    });
    const both = await token(
      { grant_type: 'client_credentials', client_secret: 'order-service-secret' },
      { authorization: basic('order-service', 'order-service-secret') },
    );
    expect(both).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await token({ grant_type: 'client_credentials' }, { authorization: 'Basic %%%' })).toMatchObject({
      status: 401,
      body: { error: 'invalid_client' },
    });
    expect(await token({ grant_type: 'client_credentials' })).toMatchObject({
      status: 401,
      body: { error: 'invalid_client' },
    });
  });

  it('narrows the scope on refresh if asked, and keeps the full grant for the next refresh', async () => {
    const signIn = await token({ ...admin, scope: 'profile orders' });
    const narrowed = await token({
      grant_type: 'refresh_token',
      refresh_token: String(signIn.body.refresh_token),
      scope: 'orders',
    });
    expect(narrowed.body).toMatchObject({ scope: 'orders', refresh_token: expect.any(String) });
    const next = await token({
      grant_type: 'refresh_token',
      refresh_token: String(narrowed.body.refresh_token),
    });
    expect(next.body).toMatchObject({ scope: 'profile orders' });
    const widened = await token({
      grant_type: 'refresh_token',
      refresh_token: String(next.body.refresh_token),
      scope: 'admin',
    });
    expect(widened).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
  });
});
