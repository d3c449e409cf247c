import { AsyncLocalStorage } from 'node:async_hooks';
import type { TestingModule } from '@nestjs/testing';
import { getRepositoryToken } from '@nestjs/typeorm';
import type { MongoRepository } from 'typeorm';
import { errorCode } from '#lab/errors';
import { TraceService } from 'nestjs-otel';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { insertProduct, rejectionOf, stockOf } from '../../test/factories.js';
import { databaseTestingModule } from '../../test/testing-module.js';
import { Product } from '../products/product.entity.js';
import { toReservationResponse } from './reservation.response.js';
import { StockReservation } from './stock-reservation.entity.js';
import { StockMetrics } from './stock.metrics.js';
import { STALE_HOLD_MS, StockService } from './stock.service.js';

describe(StockService.name, () => {
  let moduleRef: TestingModule;
  let stock: StockService;
  let products: MongoRepository<Product>;
  let reservations: MongoRepository<StockReservation>;
  let orders = 0;
  const nextOrderId = () => `order-${++orders}`;
  const line = (product: Product, quantity: number) => ({ productId: product._id.toHexString(), quantity });
  const statusOf = async (orderId: string) => (await reservations.findOneBy({ orderId }))?.status;
  /** A reservation that failed after taking 4 of `product` and died before putting them back (stock 10 → 6). */
  const insertInterruptedFailure = async (product: Product, orderId: string) => {
    const now = new Date();
    await reservations.insertOne({
      orderId,
      status: 'FAILED',
      lines: [line(product, 4)],
      taken: [{ ...line(product, 4), name: 'x', unitPriceCents: 1 }],
      failure: { code: 'out_of_stock', productId: product._id.toHexString() },
      returning: 'interrupted',
      createdAt: now,
      updatedAt: now,
    });
    await products.updateOne({ _id: product._id }, { $set: { stock: 6 } });
  };

  beforeAll(async () => {
    moduleRef = await databaseTestingModule([StockService]);
    stock = moduleRef.get(StockService);
    products = moduleRef.get(getRepositoryToken(Product));
    reservations = moduleRef.get(getRepositoryToken(StockReservation));
  });
  afterAll(async () => {
    await moduleRef?.close();
  });

  it('takes the stock of every line and answers the lines priced at reservation time', async () => {
    const beans = await insertProduct(products, { name: 'Beans', priceCents: 1999, stock: 10 });
    const mug = await insertProduct(products, { name: 'Mug', priceCents: 1250, stock: 5 });
    const orderId = nextOrderId();

    const { reservation, replayed } = await stock.reserve(orderId, [line(beans, 3), line(mug, 5)]);

    expect(replayed).toBe(false);
    expect(toReservationResponse(reservation)).toEqual({
      orderId,
      status: 'RESERVED',
      lines: [
        {
          productId: beans._id.toHexString(),
          name: 'Beans',
          quantity: 3,
          unitPrice: 19.99,
          lineTotal: 59.97,
        },
        { productId: mug._id.toHexString(), name: 'Mug', quantity: 5, unitPrice: 12.5, lineTotal: 62.5 },
      ],
      total: 122.47,
    });
    expect(await stockOf(products, beans)).toBe(7);
    expect(await stockOf(products, mug)).toBe(0);
  });

  it('takes nothing when a later line is short: the earlier lines go back and the answer names the product and its stock', async () => {
    const plenty = await insertProduct(products, { stock: 10 });
    const scarce = await insertProduct(products, { stock: 2 });
    const orderId = nextOrderId();

    const failure = await rejectionOf(stock.reserve(orderId, [line(plenty, 4), line(scarce, 3)]));

    expect(failure).toMatchObject({
      status: 409,
      body: { code: 'out_of_stock', productId: scarce._id.toHexString(), available: 2 },
    });
    expect(await stockOf(products, plenty)).toBe(10);
    expect(await stockOf(products, scarce)).toBe(2);
    const stored = await reservations.findOneBy({ orderId });
    expect(stored).toMatchObject({
      status: 'FAILED',
      failure: { code: 'out_of_stock', productId: scarce._id.toHexString() },
    });
  });

  it('answers 404 unknown_product for a product that does not exist, putting back what it took', async () => {
    const known = await insertProduct(products, { stock: 3 });
    const missing = '0123456789abcdef01234567';

    const failure = await rejectionOf(
      stock.reserve(nextOrderId(), [line(known, 1), { productId: missing, quantity: 1 }]),
    );

    expect(failure).toMatchObject({ status: 404, body: { code: 'unknown_product', productId: missing } });
    expect(await stockOf(products, known)).toBe(3);
  });

  it('replays a reservation with the same lines (in any order) without taking stock again', async () => {
    const a = await insertProduct(products, { stock: 10 });
    const b = await insertProduct(products, { stock: 10 });
    const orderId = nextOrderId();
    const first = await stock.reserve(orderId, [line(a, 1), line(b, 2)]);

    const again = await stock.reserve(orderId, [
      line(b, 2),
      { productId: a._id.toHexString().toUpperCase(), quantity: 1 },
    ]);

    expect(again.replayed).toBe(true);
    expect(toReservationResponse(again.reservation)).toEqual(toReservationResponse(first.reservation));
    expect(await stockOf(products, a)).toBe(9);
    expect(await stockOf(products, b)).toBe(8);
  });

  it('answers 422 reservation_mismatch to other lines under an order id already used', async () => {
    const product = await insertProduct(products, { stock: 10 });
    const orderId = nextOrderId();
    await stock.reserve(orderId, [line(product, 1)]);

    expect(await rejectionOf(stock.reserve(orderId, [line(product, 2)]))).toMatchObject({
      status: 422,
      body: { code: 'reservation_mismatch' },
    });
    expect(await stockOf(products, product)).toBe(9);
  });

  it('answers 409 reservation_in_progress while another request is reserving the same order', async () => {
    const product = await insertProduct(products, { stock: 10 });
    const orderId = nextOrderId();
    const now = new Date();
    await reservations.insertOne({
      orderId,
      status: 'PENDING',
      lines: [line(product, 1)],
      taken: [],
      failure: null,
      createdAt: now,
      updatedAt: now,
    });

    expect(await rejectionOf(stock.reserve(orderId, [line(product, 1)]))).toMatchObject({
      status: 409,
      body: { code: 'reservation_in_progress' },
    });
    expect(await stockOf(products, product)).toBe(10);
  });

  it('starts a failed reservation over when the same lines come again', async () => {
    const product = await insertProduct(products, { stock: 1 });
    const orderId = nextOrderId();
    await rejectionOf(stock.reserve(orderId, [line(product, 2)]));
    await products.updateOne({ _id: product._id }, { $set: { stock: 5 } });

    const retried = await stock.reserve(orderId, [line(product, 2)]);

    expect(retried.replayed).toBe(false);
    expect(retried.reservation).toMatchObject({ status: 'RESERVED', failure: null });
    expect(await stockOf(products, product)).toBe(3);
  });

  it('puts the stock back once however often a reservation is released', async () => {
    const product = await insertProduct(products, { stock: 10 });
    const orderId = nextOrderId();
    await stock.reserve(orderId, [line(product, 4)]);

    await stock.release(orderId);
    await stock.release(orderId);

    expect(await stockOf(products, product)).toBe(10);
    expect(await statusOf(orderId)).toBe('RELEASED');
  });

  it('puts the stock back exactly once when 20 releases race', async () => {
    const a = await insertProduct(products, { stock: 10 });
    const b = await insertProduct(products, { stock: 10 });
    const orderId = nextOrderId();
    await stock.reserve(orderId, [line(a, 3), line(b, 7)]);

    await Promise.all(Array.from({ length: 20 }, () => stock.release(orderId)));

    expect(await stockOf(products, a)).toBe(10);
    expect(await stockOf(products, b)).toBe(10);
  });

  it('leaves a tombstone when the release comes first, so the late reservation takes nothing', async () => {
    const product = await insertProduct(products, { stock: 10 });
    const orderId = nextOrderId();

    await stock.release(orderId);
    const late = await rejectionOf(stock.reserve(orderId, [line(product, 1)]));

    expect(late).toMatchObject({ status: 409, body: { code: 'reservation_released' } });
    expect(await stockOf(products, product)).toBe(10);
    expect(await reservations.countBy({ orderId })).toBe(1);
  });

  it('puts nothing back for a failed reservation, and refuses to start it over once released', async () => {
    const plenty = await insertProduct(products, { stock: 10 });
    const scarce = await insertProduct(products, { stock: 0 });
    const orderId = nextOrderId();
    await rejectionOf(stock.reserve(orderId, [line(plenty, 2), line(scarce, 1)]));

    await stock.release(orderId);
    await products.updateOne({ _id: scarce._id }, { $set: { stock: 5 } });

    expect(await stockOf(products, plenty)).toBe(10);
    expect(await rejectionOf(stock.reserve(orderId, [line(plenty, 2), line(scarce, 1)]))).toMatchObject({
      status: 409,
      body: { code: 'reservation_released' },
    });
    expect(await stockOf(products, scarce)).toBe(5);
  });

  it('puts back stock that a reserving process took but died before recording, exactly once', async () => {
    const recorded = await insertProduct(products, { stock: 10 });
    const held = await insertProduct(products, { stock: 10 });
    const untouched = await insertProduct(products, { stock: 10 });
    const orderId = nextOrderId();
    const now = new Date();
    const lines = [line(recorded, 2), line(held, 3), line(untouched, 4)];
    // What the store holds when the process died: the first line taken and recorded (its hold not yet
    // dropped), the second taken but not recorded, the third not reached.
    await reservations.insertOne({
      orderId,
      status: 'PENDING',
      lines,
      taken: [{ ...line(recorded, 2), name: 'x', unitPriceCents: 1 }],
      failure: null,
      createdAt: now,
      updatedAt: now,
    });
    await products.updateOne(
      { _id: recorded._id },
      { $set: { stock: 8, holds: [{ orderId, quantity: 2, since: now }] } },
    );
    await products.updateOne(
      { _id: held._id },
      { $set: { stock: 7, holds: [{ orderId, quantity: 3, since: now }] } },
    );

    await Promise.all([stock.release(orderId), stock.release(orderId), stock.release(orderId)]);

    expect(await stockOf(products, recorded)).toBe(10);
    expect(await stockOf(products, held)).toBe(10);
    expect(await stockOf(products, untouched)).toBe(10);
    const after = await products.find({ where: { _id: { $in: [recorded._id, held._id] } } });
    expect(after.map((product) => product.holds)).toEqual([[], []]);
  });

  it('finishes a release that died between its status change and the put-back, returning each line once', async () => {
    const first = await insertProduct(products, { stock: 10 });
    const second = await insertProduct(products, { stock: 10 });
    const orderId = nextOrderId();
    await stock.reserve(orderId, [line(first, 2), line(second, 3)]);
    // What a release leaves when its process dies after putting back the first line only.
    await reservations.updateOne({ orderId }, { $set: { status: 'RELEASED', returning: 'interrupted' } });
    await products.updateOne({ _id: first._id }, { $inc: { stock: 2 }, $set: { returns: ['interrupted'] } });

    await Promise.all([stock.release(orderId), stock.release(orderId)]);
    await stock.release(orderId);

    expect([await stockOf(products, first), await stockOf(products, second)]).toEqual([10, 10]);
    expect(await reservations.findOneBy({ orderId })).toMatchObject({ status: 'RELEASED', returning: null });
    // The token stays on the products a while, so a late finisher of the same put-back returns nothing twice.
    const after = await products.find({ where: { _id: { $in: [first._id, second._id] } } });
    expect(after.map((product) => product.returns)).toEqual([['interrupted'], ['interrupted']]);
  });

  it('finishes the put-back of a failure that died before returning what it took, then takes again', async () => {
    const product = await insertProduct(products, { stock: 10 });
    const orderId = nextOrderId();
    // A reservation that failed on its second line after taking 4 of this product; it died before the put-back.
    await insertInterruptedFailure(product, orderId);

    const retried = await stock.reserve(orderId, [line(product, 4)]);
    expect(retried.reservation.status).toBe('RESERVED');
    expect(await stockOf(products, product)).toBe(6);
    await stock.release(orderId);
    expect(await stockOf(products, product)).toBe(10);
  });

  it('puts back the stock of a failure whose put-back died when the order is released instead', async () => {
    const product = await insertProduct(products, { stock: 10 });
    const orderId = nextOrderId();
    await insertInterruptedFailure(product, orderId);

    await stock.release(orderId);
    await stock.release(orderId);

    expect(await stockOf(products, product)).toBe(10);
  });

  it('reserves in two writes for one line: the take (with its hold) and the reservation', async () => {
    const product = await insertProduct(products, { stock: 10 });
    const orderId = nextOrderId();
    await stock.reserve(orderId, [line(product, 2)]);

    const [hold] = (await products.findOneBy({ _id: product._id }))?.holds ?? [];
    expect(hold).toMatchObject({ orderId, quantity: 2 });
    expect(await reservations.findOneBy({ orderId })).toMatchObject({
      status: 'RESERVED',
      holdToken: hold.token,
      taken: [{ ...line(product, 2) }],
    });
  });

  it("drops a recorded reservation's hold with the product's next take, or when the holds are dropped", async () => {
    const product = await insertProduct(products, { stock: 10 });
    const first = nextOrderId();
    const second = nextOrderId();
    await stock.reserve(first, [line(product, 1)]);
    await stock.reserve(second, [line(product, 1)]);

    const holds = async () =>
      ((await products.findOneBy({ _id: product._id }))?.holds ?? []).map((h) => h.orderId);
    expect(await holds()).toEqual([second]);
    await stock.dropHolds();
    expect(await holds()).toEqual([]);
    expect(await stockOf(products, product)).toBe(8);
  });

  it('puts back stock a request took but died before recording (a hold, no reservation) once, when the order is released', async () => {
    const a = await insertProduct(products, { stock: 10 });
    const b = await insertProduct(products, { stock: 10 });
    const orderId = nextOrderId();
    const since = new Date();
    await products.updateOne(
      { _id: a._id },
      { $set: { stock: 8, holds: [{ orderId, token: 'dead', quantity: 2, since }] } },
    );
    await products.updateOne(
      { _id: b._id },
      { $set: { stock: 7, holds: [{ orderId, token: 'dead', quantity: 3, since }] } },
    );

    await Promise.all([stock.release(orderId), stock.release(orderId), stock.release(orderId)]);

    expect([await stockOf(products, a), await stockOf(products, b)]).toEqual([10, 10]);
    expect(await statusOf(orderId)).toBe('RELEASED');
    expect(await rejectionOf(stock.reserve(orderId, [line(a, 2), line(b, 3)]))).toMatchObject({
      status: 409,
      body: { code: 'reservation_released' },
    });
    expect([await stockOf(products, a), await stockOf(products, b)]).toEqual([10, 10]);
  });

  it('settles stale holds: puts back one whose request died after the release, drops one its reservation recorded', async () => {
    const product = await insertProduct(products, { stock: 10 });
    const died = nextOrderId();
    const recorded = nextOrderId();
    await stock.reserve(recorded, [line(product, 1)]);
    await stock.release(died);
    // The request of `died` took 2 after its release had already put back what was held, then died.
    const since = new Date();
    const [recordedHold] = (await products.findOneBy({ _id: product._id }))?.holds ?? [];
    const dead = { orderId: died, token: 'dead', quantity: 2, since };
    await products.updateOne(
      { _id: product._id },
      { $inc: { stock: -2 }, $set: { holds: [recordedHold, dead] } },
    );
    expect(await stock.sweepHolds(since)).toEqual({ dropped: 0, putBack: 0 });

    const later = new Date(since.getTime() + STALE_HOLD_MS + 1000);
    expect(await stock.sweepHolds(later)).toEqual({ dropped: 1, putBack: 1 });
    expect(await stockOf(products, product)).toBe(9);
    expect((await products.findOneBy({ _id: product._id }))?.holds).toEqual([]);
    expect(await stock.sweepHolds(later)).toEqual({ dropped: 0, putBack: 0 });
  });

  it('answers 409 reservation_in_progress to a second request for an order while the first holds its stock', async () => {
    const product = await insertProduct(products, { stock: 10 });
    const orderId = nextOrderId();
    await products.updateOne(
      { _id: product._id },
      { $set: { stock: 9, holds: [{ orderId, token: 'first', quantity: 1, since: new Date() }] } },
    );

    expect(await rejectionOf(stock.reserve(orderId, [line(product, 1)]))).toMatchObject({
      status: 409,
      body: { code: 'reservation_in_progress' },
    });
    expect(await stockOf(products, product)).toBe(9);
    expect(await reservations.countBy({ orderId })).toBe(0);
  });

  it('lets exactly 30 of 100 concurrent single-unit reservations take a stock of 30', async () => {
    const product = await insertProduct(products, { stock: 30 });
    const orderIds = Array.from({ length: 100 }, nextOrderId);

    const outcomes = await Promise.allSettled(
      orderIds.map((orderId) => stock.reserve(orderId, [line(product, 1)])),
    );

    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(30);
    expect(await stockOf(products, product)).toBe(0);
    expect(await reservations.countBy({ orderId: { $in: orderIds }, status: 'RESERVED' })).toBe(30);
    expect(await reservations.countBy({ orderId: { $in: orderIds }, status: 'FAILED' })).toBe(70);
  });

  it('keeps the stock consistent when reservations and releases of the same orders race', async () => {
    const a = await insertProduct(products, { stock: 40 });
    const b = await insertProduct(products, { stock: 40 });
    const orderIds = Array.from({ length: 40 }, nextOrderId);

    const lines = [line(a, 1), line(b, 2)];
    const settle = (call: Promise<unknown>) =>
      call.then(
        () => 'reserved',
        (error: unknown) => errorCode(error),
      );
    // Each order's release starts with its reservation, shortly after it, or once it answered (twice).
    const outcomes = await Promise.all(
      orderIds.map(async (orderId, i) => {
        const reserve = () => settle(stock.reserve(orderId, lines));
        const pause = () => new Promise((resolve) => setTimeout(resolve, i % 3));
        if (i % 4 === 0)
          return Promise.all([stock.release(orderId), reserve()]).then(([, outcome]) => outcome);
        if (i % 4 === 1)
          return Promise.all([reserve(), pause().then(() => stock.release(orderId))]).then(
            ([outcome]) => outcome,
          );
        const outcome = await reserve();
        await Promise.all([stock.release(orderId), stock.release(orderId)]);
        return outcome;
      }),
    );

    expect(outcomes).toContain('reserved');
    expect(outcomes).toContain('reservation_released');
    const held = await reservations.find({ where: { orderId: { $in: orderIds } } });
    expect(held.every((reservation) => reservation.status === 'RELEASED')).toBe(true);
    expect(await stockOf(products, a)).toBe(40);
    expect(await stockOf(products, b)).toBe(40);
  });

  it('answers a reservation by order id, and 404 for an unknown one', async () => {
    const product = await insertProduct(products, { stock: 1 });
    const orderId = nextOrderId();
    await stock.reserve(orderId, [line(product, 1)]);

    expect(await stock.find(orderId)).toMatchObject({
      orderId,
      status: 'RESERVED',
      lines: [line(product, 1)],
      taken: [expect.objectContaining(line(product, 1))],
    });
    expect(await rejectionOf(stock.find('no-such-order'))).toMatchObject({
      status: 404,
      body: { code: 'unknown_reservation' },
    });
  });

  it("drops a reservation's holds outside the context of the request that recorded it (trace, request id)", async () => {
    const request = new AsyncLocalStorage<string>();
    const seen: string[] = [];
    // The products as this instance sees them, noting the context of each update (the drop is one).
    const watched = Object.create(products, {
      updateOne: {
        value: (...args: Parameters<MongoRepository<Product>['updateOne']>) => {
          seen.push(request.getStore() ?? 'none');
          return products.updateOne(...args);
        },
      },
    }) as MongoRepository<Product>;
    const instance = new StockService(
      watched,
      reservations,
      moduleRef.get(StockMetrics),
      moduleRef.get(TraceService),
    );
    try {
      const soap = await insertProduct(products, { name: 'Soap', priceCents: 300, stock: 3 });
      await request.run('request-1', () => instance.reserve(nextOrderId(), [line(soap, 1)]));
      await vi.waitFor(() => expect(seen).toHaveLength(1), { timeout: 5000, interval: 50 });
      expect(seen).toEqual(['none']);
    } finally {
      instance.onModuleDestroy();
    }
  });
});
