import { Contract, freePort, type RunningProcess, startNode, waitForHttp } from '#lab/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OAuthJwksStandIn, type PrincipalName } from './oauth-jwks-stand-in.js';

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

interface ProductBody {
  id: string;
  name: string;
  description: string;
  price: number;
  stock: number;
}

describe('product service (real process)', () => {
  let product: RunningProcess;
  let oauth: OAuthJwksStandIn;
  let base: string;
  const tokens = {} as Record<PrincipalName, string>;
  const errorBodies: string[] = [];
  // Every answer is checked against the service's own OpenAPI document (internal endpoints included).
  let contract: Contract;

  async function call(
    method: string,
    path: string,
    options: { json?: unknown; as?: PrincipalName } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (options.as) headers.authorization = `Bearer ${tokens[options.as]}`;
    if (options.json !== undefined) headers['content-type'] = 'application/json';
    const response = await contract.fetch(`${base}${path}`, {
      method,
      headers,
      body: options.json === undefined ? undefined : JSON.stringify(options.json),
    });
    const text = await response.text();
    if (response.status >= 400) errorBodies.push(text);
    return {
      status: response.status,
      headers: response.headers,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  }
  const createProduct = async (
    fields: Omit<ProductBody, 'id' | 'description'> & { description?: string },
  ) => {
    const answer = await call('POST', '/products', { json: fields, as: 'admin' });
    expect(answer.status).toBe(201);
    return answer.body as unknown as ProductBody;
  };
  const stockOf = async (id: string) => (await call('GET', `/products/${id}`)).body.stock;

  beforeAll(async () => {
    oauth = await OAuthJwksStandIn.start();
    for (const name of ['orderService', 'admin', 'user'] as const) tokens[name] = await oauth.token(name);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    product = startNode('dist/apps/product/src/main.js', [], {
      env: { PRODUCT_PORT: String(port), HOST: '127.0.0.1', MONGO_URL: '', OAUTH_URL: oauth.url },
    });
    await waitForHttp(`${base}/health/ready`, 200, 20_000);
    contract = await Contract.load(base);
  });

  afterAll(async () => {
    product?.signal('SIGTERM');
    await product?.exited;
    await oauth?.close();
  });

  it('seeds the demo catalogue and lists it publicly, by name, a page at a time', async () => {
    expect(product.output()).toMatch(/seeded 12 demo products/);
    const first = await call('GET', '/products?limit=5');
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ page: 1, limit: 5, total: 12 });
    const items = first.body.items as ProductBody[];
    expect(items).toHaveLength(5);
    expect(Object.keys(items[0]).sort()).toEqual([
      'createdAt',
      'description',
      'id',
      'name',
      'price',
      'stock',
      'updatedAt',
    ]);
    const names = items.map((item) => item.name);
    expect(names).toEqual([...names].sort());

    const last = await call('GET', '/products?limit=5&page=3');
    expect(last.body).toMatchObject({ page: 3, total: 12 });
    expect(last.body.items).toHaveLength(2);

    const filtered = await call('GET', '/products?q=MUG');
    expect(filtered.body).toMatchObject({ total: 1, items: [{ name: 'Ceramic Mug', price: 12.5 }] });
    expect((await call('GET', `/products?q=${encodeURIComponent('.*')}`)).body).toMatchObject({
      total: 0,
      items: [],
    });
    expect(
      (await call('GET', `/products/${(filtered.body.items as ProductBody[])[0].id}`)).body,
    ).toMatchObject({ name: 'Ceramic Mug' });
  });

  it('answers 404 problem+json for an unknown or malformed product id, and 400 for a filter object', async () => {
    for (const id of ['0123456789abcdef01234567', 'nope']) {
      const answer = await call('GET', `/products/${id}`);
      expect(answer.status).toBe(404);
      expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(answer.body).toMatchObject({ status: 404, code: 'unknown_product' });
    }
    expect((await call('GET', '/products?q[$ne]=x')).status).toBe(400);
  });

  it('creates, updates and deletes products with products:write only', async () => {
    const body = {
      name: 'Walnut Desk Organiser',
      description: 'Three compartments',
      price: 34.95,
      stock: 12,
    };
    expect((await call('POST', '/products', { json: body })).status).toBe(401);
    expect((await call('POST', '/products', { json: body, as: 'user' })).status).toBe(403);

    const created = await createProduct(body);
    expect(created).toMatchObject({ ...body, id: expect.stringMatching(/^[0-9a-f]{24}$/) });

    const path = `/products/${created.id}`;
    expect((await call('PATCH', path, { json: { price: 29.9 }, as: 'user' })).status).toBe(403);
    const updated = await call('PATCH', path, { json: { price: 29.9, stockDelta: -9 }, as: 'admin' });
    expect(updated).toMatchObject({ status: 200, body: { name: body.name, price: 29.9, stock: 3 } });

    expect((await call('DELETE', path)).status).toBe(401);
    expect((await call('DELETE', path, { as: 'user' })).status).toBe(403);
    const deleted = await call('DELETE', path, { as: 'admin' });
    expect(deleted.status).toBe(204);
    expect((await call('GET', path)).status).toBe(404);
    expect((await call('DELETE', path, { as: 'admin' })).status).toBe(404);
  });

  it('refuses invalid products with 400 problem+json naming the field', async () => {
    const valid = { name: 'Pen', price: 2.5, stock: 1 };
    const cases: Array<[object, string]> = [
      [{ ...valid, price: 2.499 }, 'price must be a number from 0 to 1000000 with at most two decimals'],
      [{ ...valid, price: 1e-7 }, 'price must be a number from 0 to 1000000 with at most two decimals'],
      [{ ...valid, stock: -1 }, 'stock must be an integer from 0 to 1000000'],
      [{ ...valid, colour: 'red' }, 'property colour should not exist'],
    ];
    for (const [json, error] of cases) {
      const answer = await call('POST', '/products', { json, as: 'admin' });
      expect(answer.status).toBe(400);
      expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(answer.body.errors).toContain(error);
    }
  });

  it('reserves stock all-or-nothing for the order service, replays, and releases once', async () => {
    const lamp = await createProduct({ name: 'Lamp', price: 45.9, stock: 5 });
    const bulb = await createProduct({ name: 'Bulb', price: 3.33, stock: 10 });
    const lines = [
      { productId: lamp.id, quantity: 2 },
      { productId: bulb.id, quantity: 3 },
    ];

    expect((await call('PUT', '/stock/reservations/order-1', { json: { lines }, as: 'user' })).status).toBe(
      403,
    );
    expect((await call('PUT', '/stock/reservations/order-1', { json: { lines } })).status).toBe(401);

    const reserved = await call('PUT', '/stock/reservations/order-1', {
      json: { lines },
      as: 'orderService',
    });
    expect(reserved).toMatchObject({
      status: 201,
      body: {
        orderId: 'order-1',
        status: 'RESERVED',
        lines: [
          { productId: lamp.id, name: 'Lamp', quantity: 2, unitPrice: 45.9, lineTotal: 91.8 },
          { productId: bulb.id, name: 'Bulb', quantity: 3, unitPrice: 3.33, lineTotal: 9.99 },
        ],
        total: 101.79,
      },
    });
    const replay = await call('PUT', '/stock/reservations/order-1', { json: { lines }, as: 'orderService' });
    expect(replay).toMatchObject({ status: 200, body: reserved.body });
    expect([await stockOf(lamp.id), await stockOf(bulb.id)]).toEqual([3, 7]);
    expect((await call('GET', '/stock/reservations/order-1', { as: 'orderService' })).body).toMatchObject({
      status: 'RESERVED',
      lines,
    });

    for (let i = 0; i < 2; i++) {
      const released = await call('DELETE', '/stock/reservations/order-1', { as: 'orderService' });
      expect(released).toMatchObject({ status: 200, body: { orderId: 'order-1', status: 'RELEASED' } });
    }
    expect([await stockOf(lamp.id), await stockOf(bulb.id)]).toEqual([5, 10]);

    const late = await call('PUT', '/stock/reservations/order-1', { json: { lines }, as: 'orderService' });
    expect(late).toMatchObject({ status: 409, body: { code: 'reservation_released' } });
    expect(product.output()).toMatch(/stock reserved for order order-1: 2 lines/);
  });

  it('answers 409 out_of_stock and 404 unknown_product as problems, taking nothing', async () => {
    const scarce = await createProduct({ name: 'Scarce', price: 1, stock: 1 });
    const plenty = await createProduct({ name: 'Plenty', price: 1, stock: 9 });

    const short = await call('PUT', '/stock/reservations/order-2', {
      json: {
        lines: [
          { productId: plenty.id, quantity: 4 },
          { productId: scarce.id, quantity: 2 },
        ],
      },
      as: 'orderService',
    });
    expect(short.status).toBe(409);
    expect(short.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(short.body).toMatchObject({
      status: 409,
      code: 'out_of_stock',
      productId: scarce.id,
      available: 1,
      detail: expect.any(String),
    });
    expect(await stockOf(plenty.id)).toBe(9);

    const unknown = await call('PUT', '/stock/reservations/order-3', {
      json: {
        lines: [
          { productId: plenty.id, quantity: 1 },
          { productId: '0123456789abcdef01234567', quantity: 1 },
        ],
      },
      as: 'orderService',
    });
    expect(unknown).toMatchObject({
      status: 404,
      body: { code: 'unknown_product', productId: '0123456789abcdef01234567' },
    });
    expect(await stockOf(plenty.id)).toBe(9);
    expect((await call('GET', '/stock/reservations/order-3', { as: 'orderService' })).body).toMatchObject({
      status: 'FAILED',
    });
    expect((await call('GET', '/stock/reservations/no-such-order', { as: 'orderService' })).status).toBe(404);
  });

  it('never puts a stack trace in an error body', () => {
    expect(errorBodies.length).toBeGreaterThan(10);
    for (const body of errorBodies) expect(body).not.toMatch(/"stack"|\n\s+at |\.[jt]s:\d+:\d+/);
  });
});
