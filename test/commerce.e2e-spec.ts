import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Contract,
  type RunningLab,
  type RunningProcess,
  startLab,
  startNode,
  waitForHttp,
} from '#lab/testing';
import { type OrderBody, type Product, shopper } from './shopper.js';

describe('commerce through the gateway (all five services running for real)', () => {
  let lab: RunningLab;
  // Every answer is checked against the public OpenAPI document.
  let contract: Contract;
  const shop = shopper(
    () => lab.urls.gateway,
    (input, init) => contract.fetch(input, init),
  );
  let adminToken: string;
  let ann: string;

  beforeAll(async () => {
    lab = await startLab();
    contract = await Contract.load(lab.urls.gateway);
    adminToken = await shop.admin();
    ann = await shop.signUp('ann');
  }, 90_000);

  afterAll(async () => {
    await lab?.stop();
  });

  it('browses the seeded catalogue, orders, shows the order, cancels it and restores the stock', async () => {
    const browse = await contract.fetch(`${lab.urls.gateway}/api/products?limit=5`);
    expect(browse.status).toBe(200);
    const page = (await browse.json()) as { items: Product[]; total: number };
    expect(page.total).toBeGreaterThanOrEqual(10);
    const item = page.items.find((p) => p.stock >= 2) as Product;
    const placed = await shop.order(ann, [{ productId: item.id, quantity: 2 }]);
    expect(placed.status).toBe(201);
    expect(placed.body).toMatchObject({ status: 'CONFIRMED', total: Math.round(item.price * 200) / 100 });
    expect((await shop.product(item.id)).stock).toBe(item.stock - 2);

    const shown = await shop.call<OrderBody>(ann, 'GET', `/api/orders/${placed.body.id}`);
    expect(shown.body).toMatchObject({ id: placed.body.id, status: 'CONFIRMED' });
    const listed = await shop.call<{ items: OrderBody[] }>(ann, 'GET', '/api/orders');
    expect(listed.body.items.map((o) => o.id)).toContain(placed.body.id);

    const cancelled = await shop.call<OrderBody>(ann, 'POST', `/api/orders/${placed.body.id}/cancel`);
    expect(cancelled).toMatchObject({ status: 200, body: { status: 'CANCELLED' } });
    expect((await shop.product(item.id)).stock).toBe(item.stock);
    const again = await shop.call<OrderBody>(ann, 'POST', `/api/orders/${placed.body.id}/cancel`);
    expect(again).toMatchObject({ status: 200, body: { status: 'CANCELLED' } });
    expect((await shop.product(item.id)).stock).toBe(item.stock);
  });

  it('confirms exactly 30 of 100 concurrent one-unit orders for a stock of 30, and never goes below zero', async () => {
    const product = await shop.createProduct(adminToken, 30);
    const buyers = await Promise.all(['b1', 'b2', 'b3', 'b4'].map((name) => shop.signUp(name)));
    const seen: number[] = [];
    let storming = true;
    const watcher = (async () => {
      while (storming) {
        seen.push((await shop.product(product.id)).stock);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        shop.order(buyers[i % buyers.length], [{ productId: product.id, quantity: 1 }]),
      ),
    );
    storming = false;
    await watcher;
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(30);
    expect(statuses.filter((s) => s === 409)).toHaveLength(70);
    expect(results.filter((r) => r.status === 409).every((r) => r.body.code === 'out_of_stock')).toBe(true);
    expect((await shop.product(product.id)).stock).toBe(0);
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(0);
  });

  it('creates exactly one order for the same Idempotency-Key sent 10 times at once, and refuses it for another body', async () => {
    const buyer = await shop.signUp('idem');
    const product = await shop.createProduct(adminToken, 50);
    const key = randomUUID();
    const results = await Promise.all(
      Array.from({ length: 10 }, () => shop.order(buyer, [{ productId: product.id, quantity: 1 }], key)),
    );
    for (const result of results) expect([201, 409]).toContain(result.status);
    const created = results.filter((r) => r.status === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    expect(new Set(created.map((r) => r.body.id)).size).toBe(1);
    const replay = await shop.order(buyer, [{ productId: product.id, quantity: 1 }], key);
    expect(replay).toMatchObject({ status: 201, body: { id: created[0].body.id } });
    const listed = await shop.call<{ total: number }>(buyer, 'GET', '/api/orders');
    expect(listed.body.total).toBe(1);
    expect((await shop.product(product.id)).stock).toBe(49);
    const reused = await shop.order(buyer, [{ productId: product.id, quantity: 2 }], key);
    expect(reused.status).toBe(422);
  });

  it("hides another user's order: neither visible nor cancellable", async () => {
    const product = await shop.createProduct(adminToken, 5);
    const placed = await shop.order(ann, [{ productId: product.id, quantity: 1 }]);
    const eve = await shop.signUp('eve');
    expect((await shop.call(eve, 'GET', `/api/orders/${placed.body.id}`)).status).toBe(404);
    expect((await shop.call(eve, 'POST', `/api/orders/${placed.body.id}/cancel`)).status).toBe(404);
    expect((await shop.call<{ items: OrderBody[] }>(eve, 'GET', '/api/orders')).body.items).toEqual([]);
    expect((await shop.product(product.id)).stock).toBe(4);
    expect((await shop.call(adminToken, 'GET', `/api/orders/${placed.body.id}`)).status).toBe(200);
  });

  it('answers invalid orders with clear errors and takes no stock', async () => {
    const product = await shop.createProduct(adminToken, 5);
    const line = { productId: product.id, quantity: 1 };
    const noKey = await shop.call<{ code: string }>(ann, 'POST', '/api/orders', { lines: [line] });
    expect(noKey.status).toBe(400);
    expect((await shop.order(ann, [])).status).toBe(400);
    expect(
      (
        await shop.order(
          ann,
          Array.from({ length: 51 }, () => line),
        )
      ).status,
    ).toBe(400);
    expect((await shop.order(ann, [{ ...line, quantity: 0 }])).status).toBe(400);
    expect((await shop.order(ann, [{ ...line, quantity: 1001 }])).status).toBe(400);
    expect((await shop.order(ann, [{ productId: { $ne: null }, quantity: 1 } as never])).status).toBe(400);
    const unknownField = await shop.call(
      ann,
      'POST',
      '/api/orders',
      { lines: [line], coupon: 'FREE' },
      { 'idempotency-key': randomUUID() },
    );
    expect(unknownField.status).toBe(400);
    expect((await shop.order(ann, [line, line])).status).toBe(422);
    const missing = await shop.order(ann, [{ productId: '0123456789abcdef01234567', quantity: 1 }]);
    expect(missing).toMatchObject({ status: 404, body: { code: 'unknown_product' } });
    const tooMany = await shop.order(ann, [{ ...line, quantity: 6 }]);
    expect(tooMany).toMatchObject({ status: 409, body: { code: 'out_of_stock' } });
    expect((await shop.product(product.id)).stock).toBe(5);
  });
  it('adjusts stock by stockDelta, keeping the reservations made meanwhile, and refuses to overwrite it', async () => {
    const product = await shop.createProduct(adminToken, 10);
    const path = `/api/products/${product.id}`;
    // The admin read 10; three units are ordered before the restock lands.
    const placed = await shop.order(ann, [{ productId: product.id, quantity: 3 }]);
    expect(placed.status).toBe(201);
    const restocked = await shop.call<Product>(adminToken, 'PATCH', path, { stockDelta: 5 });
    expect(restocked).toMatchObject({ status: 200, body: { stock: 12 } });

    const overwrite = await shop.call<{ errors: string[] }>(adminToken, 'PATCH', path, { stock: 15 });
    expect(overwrite.status).toBe(400);
    expect(overwrite.body.errors.join()).toMatch(/send stockDelta/);
    const tooMany = await shop.call<{ code: string; available: number }>(adminToken, 'PATCH', path, {
      stockDelta: -13,
    });
    expect(tooMany).toMatchObject({ status: 409, body: { code: 'stock_out_of_range', available: 12 } });
    expect((await shop.call(ann, 'PATCH', path, { stockDelta: 1 })).status).toBe(403);
    expect((await shop.product(product.id)).stock).toBe(12);
  });

  it('answers 400, never 500, to numeric edges, and refuses null and arrays in a profile', async () => {
    for (const body of [
      '{"name":"x","price":1e-7,"stock":1}',
      '{"name":"x","price":1e308,"stock":1}',
      '{"name":"x","price":-0,"stock":1}',
      '{"name":"x","price":"NaN","stock":1}',
      '{"name":"x","price":1,"stock":"1"}',
    ]) {
      const response = await contract.fetch(`${lab.urls.gateway}/api/products`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body,
      });
      expect(response.status, body).toBe(400);
    }
    const address = { line1: '1 Trace Street', city: 'Berlin', postalCode: '10115', country: 'DE' };
    for (const body of [
      { name: null, address: null },
      { name: null },
      { address: null },
      { address: [address] },
      { name: ['Ann'] },
    ]) {
      expect((await shop.call(ann, 'PATCH', '/api/customers/me', body)).status, JSON.stringify(body)).toBe(
        400,
      );
    }
    const profile = await shop.call<{ name: string; address: unknown }>(ann, 'PATCH', '/api/customers/me', {
      address,
    });
    expect(profile).toMatchObject({ status: 200, body: { name: 'ann', address } });
  });
});

describe('commerce with the product service stopped in the middle of a run', () => {
  let lab: RunningLab;
  let product: RunningProcess | undefined;
  let contract: Contract;
  const shop = shopper(
    () => lab.urls.gateway,
    (input, init) => contract.fetch(input, init),
  );
  const startProduct = async () => {
    product = startNode('dist/apps/product/src/main.js', [], { env: lab.env });
    await waitForHttp(`${lab.urls.product}/health/ready`, 200, 20_000);
  };

  beforeAll(async () => {
    // This spec is about the saga: with the default breakers, the order service's 503s would open the
    // gateway's breaker to it and the last orders would be refused there, never reaching the saga.
    lab = await startLab({ BREAKER_MIN_REQUESTS: '100000' }, ['gateway', 'oauth', 'customer', 'order']);
    await startProduct();
    contract = await Contract.load(lab.urls.gateway);
  }, 90_000);

  afterAll(async () => {
    product?.signal('SIGKILL');
    await lab?.stop();
  });

  it('leaves no order confirmed without its stock and no stock reserved for a rejected order', async () => {
    const adminToken = await shop.admin();
    const item = await shop.createProduct(adminToken, 1000);
    const buyer = await shop.signUp('chaos');
    const placed: { status: number; body: OrderBody }[] = [];
    const burst = async (count: number) => {
      const results = await Promise.all(
        Array.from({ length: count }, (_, i) =>
          shop.order(buyer, [{ productId: item.id, quantity: 1 + (i % 3) }]),
        ),
      );
      placed.push(...results);
    };

    await burst(10);
    const during = burst(20);
    await new Promise((resolve) => setTimeout(resolve, 15));
    product?.signal('SIGKILL'); // a crash, in the middle of that burst
    await during;
    await burst(5); // while it is down
    await startProduct();

    const serviceToken = await shop.token({
      grant_type: 'client_credentials',
      client_id: 'order-service',
      client_secret: 'order-service-secret',
    });
    const reservation = async (orderId: string) => {
      const response = await fetch(`${lab.urls.product}/stock/reservations/${orderId}`, {
        headers: { authorization: `Bearer ${serviceToken}` },
      });
      return response.status === 404 ? undefined : ((await response.json()) as { status: string });
    };
    const settle = async () => {
      const { body } = await shop.call<{ items: OrderBody[] }>(adminToken, 'GET', '/api/orders?limit=100');
      const mine = body.items.filter((o) => o.lines[0]?.productId === item.id);
      const confirmedUnits = mine
        .filter((o) => o.status === 'CONFIRMED')
        .reduce((sum, o) => sum + o.lines[0].quantity, 0);
      const states = await Promise.all(
        mine.map(async (o) => ({ order: o.status, reservation: (await reservation(o.id))?.status })),
      );
      return { mine, confirmedUnits, states, stock: (await shop.product(item.id)).stock };
    };
    // The compensation sweep (every 2 s) releases what rejected orders may still hold: a recorded
    // reservation, and stock a request took but did not record before the crash (held on the product,
    // no reservation to see). Until its pass, the reservations can look settled while the stock is not.
    await expect
      .poll(
        async () => {
          const { states, stock, confirmedUnits } = await settle();
          return {
            rejectedButReserved: states.filter((s) => s.order === 'REJECTED' && s.reservation === 'RESERVED')
              .length,
            unitsNotBack: 1000 - confirmedUnits - stock,
          };
        },
        { timeout: 20_000, interval: 500 },
      )
      .toEqual({ rejectedButReserved: 0, unitsNotBack: 0 });
    const { mine, confirmedUnits, states, stock } = await settle();

    expect(mine.length).toBe(35);
    expect(placed.filter((p) => p.status === 503).length).toBeGreaterThan(0);
    expect(placed.every((p) => [201, 503].includes(p.status))).toBe(true);
    for (const state of states) {
      if (state.order === 'CONFIRMED') expect(state.reservation).toBe('RESERVED');
      else expect(state.reservation).not.toBe('RESERVED');
    }
    expect(states.every((s) => s.order === 'CONFIRMED' || s.order === 'REJECTED')).toBe(true);
    expect(stock).toBe(1000 - confirmedUnits);
  });
  it('records a cancel while the product service is down as CANCELLING (503) and finishes it once it is back', async () => {
    const adminToken = await shop.admin();
    const item = await shop.createProduct(adminToken, 10);
    const buyer = await shop.signUp('canceller');
    const placed = await shop.order(buyer, [{ productId: item.id, quantity: 4 }]);
    expect(placed.status).toBe(201);

    product?.signal('SIGKILL');
    await product?.exited;
    const cancel = await shop.call<{ code: string }>(buyer, 'POST', `/api/orders/${placed.body.id}/cancel`);
    expect(cancel.status).toBe(503);
    expect((await shop.call<OrderBody>(buyer, 'GET', `/api/orders/${placed.body.id}`)).body.status).toBe(
      'CANCELLING',
    );

    await startProduct();
    // The compensation sweep (every 2 s) releases the stock and marks the order CANCELLED.
    await expect
      .poll(
        async () => (await shop.call<OrderBody>(buyer, 'GET', `/api/orders/${placed.body.id}`)).body.status,
        {
          timeout: 20_000,
          interval: 500,
        },
      )
      .toBe('CANCELLED');
    expect((await shop.product(item.id)).stock).toBe(10);
    const again = await shop.call<OrderBody>(buyer, 'POST', `/api/orders/${placed.body.id}/cancel`);
    expect(again).toMatchObject({ status: 200, body: { status: 'CANCELLED' } });
    expect((await shop.product(item.id)).stock).toBe(10);
  });
});
