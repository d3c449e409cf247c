import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createService } from '#lab/bootstrap';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CustomerServiceStandIn } from '../../test/customer-service-stand-in.js';
import { AppModule } from '../app.module.js';
import { UsersController } from './users.controller.js';

describe(UsersController.name, () => {
  let app: NestFastifyApplication;
  let customers: CustomerServiceStandIn;

  async function signUp(body: unknown) {
    const response = await app
      .getHttpAdapter()
      .getInstance()
      .inject({ method: 'POST', url: '/users', payload: body as object });
    return {
      status: response.statusCode,
      contentType: response.headers['content-type'],
      body: response.json<Record<string, unknown>>(),
    };
  }

  beforeAll(async () => {
    customers = await CustomerServiceStandIn.start();
    // configFor('oauth') reads the environment once per process, when the app is created.
    Object.assign(process.env, { MONGO_URL: '', CUSTOMER_URL: customers.url });
    app = await createService('oauth', AppModule);
    await app.init();
  });
  afterAll(async () => {
    await app?.close();
    await customers?.close();
  });

  it('stores the email lower-cased and the name trimmed, and never answers the password hash', async () => {
    const response = await signUp({
      email: '  Grace.Hopper@Example.COM ',
      password: 'cobol-1959',
      name: '  Grace Hopper ',
    });
    expect(response.status).toBe(201);
    expect(Object.keys(response.body).sort()).toEqual(['createdAt', 'email', 'id', 'name']);
    expect(response.body).toMatchObject({
      email: 'grace.hopper@example.com',
      name: 'Grace Hopper',
      id: expect.stringMatching(/^[0-9a-f]{24}$/),
    });
    expect(customers.requestFor('grace.hopper@example.com')?.body).toEqual({
      userId: response.body.id,
      email: 'grace.hopper@example.com',
      name: 'Grace Hopper',
    });
  });

  it('answers 409 to a second sign-up whose email differs only in case', async () => {
    await signUp({ email: 'twice@example.com', password: 'password-1', name: 'First' });
    const second = await signUp({ email: 'TWICE@example.com', password: 'password-2', name: 'Second' });
    expect(second).toMatchObject({
      status: 409,
      contentType: expect.stringMatching(/^application\/problem\+json/),
    });
  });

  it('lets exactly one of several concurrent sign-ups with one email succeed', async () => {
    const statuses = await Promise.all(
      [1, 2, 3].map((n) =>
        signUp({ email: 'race@example.com', password: `password-${n}`, name: `Racer ${n}` }).then(
          (r) => r.status,
        ),
      ),
    );
    expect(statuses.sort()).toEqual([201, 409, 409]);
  });

  it('refuses invalid fields and unknown ones with 400 problem+json naming them', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ email: 'not-an-email', password: 'long-enough', name: 'x' }, /email/],
      [{ email: `${'a'.repeat(250)}@x.io`, password: 'long-enough', name: 'x' }, /email/],
      [{ email: 'short@example.com', password: 'short', name: 'x' }, /password/],
      [{ email: 'long@example.com', password: 'p'.repeat(129), name: 'x' }, /password/],
      [{ email: 'noname@example.com', password: 'long-enough', name: '   ' }, /name/],
      [
        { email: 'extra@example.com', password: 'long-enough', name: 'x', scopes: ['admin'] },
        /scopes should not exist/,
      ],
      [{ email: { $gt: '' }, password: 'long-enough', name: 'x' }, /email/],
    ];
    for (const [body, mentions] of cases) {
      const response = await signUp(body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(JSON.stringify(response.body.errors)).toMatch(mentions);
    }
  });
});
