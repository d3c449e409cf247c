import { BadRequestException } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createService, LabValidationPipe } from '#lab/bootstrap';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OAuthJwksStandIn } from '../../test/oauth-jwks-stand-in.js';
import { AppModule } from '../app.module.js';
import { ProductQueryDto } from './dto/product-query.dto.js';
import { ProductsController } from './products.controller.js';

describe(ProductsController.name, () => {
  let app: NestFastifyApplication;
  let oauth: OAuthJwksStandIn;
  let admin: string;

  async function call(
    method: 'GET' | 'POST' | 'PATCH',
    url: string,
    payload?: object | string,
    token?: string,
  ) {
    const response = await app
      .getHttpAdapter()
      .getInstance()
      .inject({
        method,
        url,
        payload,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(typeof payload === 'string' ? { 'content-type': 'application/json' } : {}),
        },
      });
    return {
      status: response.statusCode,
      contentType: response.headers['content-type'],
      body: response.json<Record<string, unknown>>(),
    };
  }

  beforeAll(async () => {
    oauth = await OAuthJwksStandIn.start();
    // configFor('product') reads the environment once per process, when the app is created.
    Object.assign(process.env, { MONGO_URL: '', OAUTH_URL: oauth.url });
    app = await createService('product', AppModule);
    await app.init();
    admin = await oauth.token('admin');
  });
  afterAll(async () => {
    await app?.close();
    await oauth?.close();
  });

  it('refuses a filter that is not one string with 400, never handing it to MongoDB', async () => {
    for (const query of ['q[$ne]=x', 'q[$regex]=.*', 'q=a&q=b', 'q=', `q=${'x'.repeat(101)}`]) {
      const response = await call('GET', `/products?${query}`);
      expect(response.status, query).toBe(400);
      expect(response.contentType).toMatch(/^application\/problem\+json/);
    }
  });

  it('refuses a filter that a nesting query parser turned into an object', async () => {
    const pipe = new LabValidationPipe();
    await expect(
      pipe.transform({ q: { $ne: 'x' } }, { type: 'query', metatype: ProductQueryDto }),
    ).rejects.toBeInstanceOf(BadRequestException);
  });

  it('refuses page sizes beyond 100 and pages below 1', async () => {
    expect((await call('GET', '/products?limit=101')).status).toBe(400);
    expect((await call('GET', '/products?limit=0')).status).toBe(400);
    expect((await call('GET', '/products?page=0')).status).toBe(400);
    expect(await call('GET', '/products?limit=100&page=2')).toMatchObject({
      status: 200,
      body: { page: 2, limit: 100 },
    });
  });

  it('refuses invalid product fields with 400 naming them', async () => {
    const valid = { name: 'Pen', price: 2.5, stock: 1 };
    const cases: Array<[object, RegExp]> = [
      [{ ...valid, price: 1.999 }, /price/],
      [{ ...valid, price: -1 }, /price/],
      [{ ...valid, price: 1_000_000.01 }, /price/],
      [{ ...valid, price: '2.50' }, /price/],
      [{ ...valid, stock: -1 }, /stock/],
      [{ ...valid, stock: 1.5 }, /stock/],
      [{ ...valid, name: '   ' }, /name/],
      [{ ...valid, name: 'n'.repeat(201) }, /name/],
      [{ ...valid, description: 'd'.repeat(2001) }, /description/],
      [{ ...valid, description: null }, /description/],
      [{ ...valid, name: { $gt: '' } }, /name/],
      [{ ...valid, seedKey: 'x' }, /seedKey should not exist/],
    ];
    for (const [body, mentions] of cases) {
      const response = await call('POST', '/products', body, admin);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(JSON.stringify(response.body.errors), JSON.stringify(body)).toMatch(mentions);
    }
  });

  it('refuses an update without fields, or setting a field to null', async () => {
    const created = await call('POST', '/products', { name: 'Pencil', price: 0.99, stock: 10 }, admin);
    expect(created.status).toBe(201);
    const url = `/products/${String(created.body.id)}`;

    expect((await call('PATCH', url, {}, admin)).status).toBe(400);
    expect((await call('PATCH', url, undefined, admin)).status).toBe(400);
    expect((await call('PATCH', url, { name: null }, admin)).status).toBe(400);
    expect(await call('PATCH', url, { description: 'HB' }, admin)).toMatchObject({
      status: 200,
      body: { name: 'Pencil', description: 'HB', price: 0.99 },
    });
  });
  it('answers 400, never 500, to numeric edges of price and stock (1e-7, 1e308, -0, strings)', async () => {
    for (const [price, stock] of [
      ['1e-7', '1'],
      ['1e308', '1'],
      ['-0', '1'],
      ['"NaN"', '1'],
      ['"1"', '1'],
      ['1', '-0'],
      ['1', '1e308'],
      ['1', '"Infinity"'],
    ]) {
      const payload = `{"name":"x","price":${price},"stock":${stock}}`;
      const response = await call('POST', '/products', payload, admin);
      expect(response.status, payload).toBe(400);
      expect(response.contentType).toMatch(/^application\/problem\+json/);
    }
  });

  it('adjusts the stock with stockDelta and refuses to overwrite it', async () => {
    const created = await call('POST', '/products', { name: 'Eraser', price: 0.5, stock: 10 }, admin);
    const url = `/products/${String(created.body.id)}`;

    const overwrite = await call('PATCH', url, { stock: 3 }, admin);
    expect(overwrite.status).toBe(400);
    expect(JSON.stringify(overwrite.body.errors)).toMatch(/send stockDelta/);
    expect(await call('PATCH', url, { stockDelta: -4 }, admin)).toMatchObject({
      status: 200,
      body: { stock: 6 },
    });
    expect(await call('PATCH', url, { stockDelta: -7 }, admin)).toMatchObject({
      status: 409,
      body: { code: 'stock_out_of_range', available: 6 },
    });
  });
});
