import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createService } from '#lab/bootstrap';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OAuthJwksStandIn } from '../../test/oauth-jwks-stand-in.js';
import { AppModule } from '../app.module.js';
import { StockController } from './stock.controller.js';

describe(StockController.name, () => {
  let app: NestFastifyApplication;
  let oauth: OAuthJwksStandIn;
  let service: string;
  const productId = '0123456789abcdef01234567';

  async function call(method: 'GET' | 'PUT' | 'DELETE', url: string, payload?: object, token = service) {
    const response = await app
      .getHttpAdapter()
      .getInstance()
      .inject({ method, url, payload, headers: { authorization: `Bearer ${token}` } });
    return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
  }

  beforeAll(async () => {
    oauth = await OAuthJwksStandIn.start();
    Object.assign(process.env, { MONGO_URL: '', OAUTH_URL: oauth.url });
    app = await createService('product', AppModule);
    await app.init();
    service = await oauth.token('orderService');
  });
  afterAll(async () => {
    await app?.close();
    await oauth?.close();
  });

  it('refuses malformed order ids and lines with 400', async () => {
    const line = { productId, quantity: 1 };
    const cases: Array<[string, unknown, RegExp]> = [
      ['o'.repeat(65), { lines: [line] }, /orderId/],
      ['bad.id', { lines: [line] }, /orderId/],
      ['order-1', { lines: [] }, /lines/],
      [
        'order-1',
        {
          lines: Array.from({ length: 51 }, (_, i) => ({
            productId: productId.slice(0, 22) + String(i).padStart(2, '0'),
            quantity: 1,
          })),
        },
        /lines/,
      ],
      ['order-1', { lines: [{ ...line, quantity: 0 }] }, /quantity/],
      ['order-1', { lines: [{ ...line, quantity: 1001 }] }, /quantity/],
      ['order-1', { lines: [{ ...line, quantity: 1.5 }] }, /quantity/],
      ['order-1', { lines: [{ ...line, productId: 'xyz' }] }, /productId/],
      ['order-1', { lines: [{ ...line, productId: { $gt: '' } }] }, /productId/],
      [
        'order-1',
        { lines: [line, { productId: productId.toUpperCase(), quantity: 2 }] },
        /each productId once/,
      ],
      ['order-1', { lines: [{ ...line, price: 0 }] }, /price should not exist/],
      ['order-1', { lines: [line], status: 'RESERVED' }, /status should not exist/],
    ];
    for (const [orderId, body, mentions] of cases) {
      const response = await call('PUT', `/stock/reservations/${orderId}`, body as object);
      expect(response.status, `${orderId} ${JSON.stringify(body)}`).toBe(400);
      expect(JSON.stringify(response.body.errors), JSON.stringify(body)).toMatch(mentions);
    }
  });

  it('answers 201 for a new reservation and 200 for its replay', async () => {
    const product = await app
      .getHttpAdapter()
      .getInstance()
      .inject({
        method: 'POST',
        url: '/products',
        payload: { name: 'Widget', price: 1.5, stock: 5 },
        headers: { authorization: `Bearer ${await oauth.token('admin')}` },
      });
    const body = { lines: [{ productId: product.json<{ id: string }>().id, quantity: 2 }] };

    const first = await call('PUT', '/stock/reservations/order_A-1', body);
    const replay = await call('PUT', '/stock/reservations/order_A-1', body);

    expect(first).toMatchObject({
      status: 201,
      body: { orderId: 'order_A-1', status: 'RESERVED', total: 3 },
    });
    expect(replay).toEqual({ status: 200, body: first.body });
  });

  it('requires the stock:reserve scope', async () => {
    const user = await oauth.token('user');
    expect(
      (await call('PUT', '/stock/reservations/order-2', { lines: [{ productId, quantity: 1 }] }, user))
        .status,
    ).toBe(403);
    expect((await call('DELETE', '/stock/reservations/order-2', undefined, user)).status).toBe(403);
    expect((await call('GET', '/stock/reservations/order-2', undefined, user)).status).toBe(403);
  });
});
