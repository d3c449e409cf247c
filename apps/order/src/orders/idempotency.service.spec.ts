import type { TestingModule } from '@nestjs/testing';
import { getRepositoryToken } from '@nestjs/typeorm';
import type { Principal } from '#lab/auth';
import type { MongoRepository } from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CustomerServiceStandIn, ProductStockStandIn } from '../../test/stand-ins.js';
import { orderTestingModule } from '../../test/testing-module.js';
import { IDEMPOTENCY_TTL_SECONDS, IdempotencyRecord } from './idempotency-record.entity.js';
import { IdempotencyService, requestHashOf } from './idempotency.service.js';
import { Order } from './order.entity.js';
import { OrdersService } from './orders.service.js';

const PRODUCT = '0123456789abcdef01234567';

describe(IdempotencyService.name, () => {
  let moduleRef: TestingModule;
  let service: IdempotencyService;
  let ordersService: OrdersService;
  let orders: MongoRepository<Order>;
  let records: MongoRepository<IdempotencyRecord>;
  const stock = new ProductStockStandIn();
  const customers = new CustomerServiceStandIn();
  const user = (subject: string) => ({ subject, scopes: ['orders'] }) as unknown as Principal;
  const ann = user('64b7f0c2a1b2c3d4e5f60719');
  let n = 0;
  const key = () => `key-${++n}`;
  const place = (k: string, quantity = 1, who = ann) =>
    ordersService.create(who, 'Bearer x', k, [{ productId: PRODUCT, quantity }]);
  const failure = (call: Promise<unknown>) =>
    call.then(
      () => undefined,
      (error: unknown) => error,
    );

  beforeAll(async () => {
    moduleRef = await orderTestingModule(stock, customers);
    service = moduleRef.get(IdempotencyService);
    ordersService = moduleRef.get(OrdersService);
    orders = moduleRef.get(getRepositoryToken(Order));
    records = moduleRef.get(getRepositoryToken(IdempotencyRecord));
  });
  beforeEach(async () => {
    await orders.deleteMany({});
    await records.deleteMany({});
    await service.refreshLegacyRecords();
    customers.release();
    customers.missing = false;
    stock.down = false;
    stock.product(PRODUCT, 10);
  });
  afterAll(async () => {
    await moduleRef?.close();
  });

  it('places one order per user and key, replaying the first answer, and refuses another request with 422', async () => {
    const k = key();
    const first = await place(k, 2);

    expect(await place(k, 2)).toEqual(first);
    await expect(place(k, 3)).rejects.toMatchObject({ status: 422, code: 'idempotency_key_reused' });
    expect(await place(k, 2, user('64b7f0c2a1b2c3d4e5f60720'))).toMatchObject({ status: 201 });
    expect(await orders.countBy({})).toBe(2);
    expect(stock.stock.get(PRODUCT)).toBe(6);
  });

  it('hashes a request as the hex sha256 of its JSON, as the hashes stored with earlier orders were', () => {
    expect(requestHashOf([{ productId: PRODUCT, quantity: 2 }])).toBe(
      'ff062a5feadb0d59e3af24a3ea5d847f22d561a099e95a0ac70160ec845cd7f1',
    );
  });

  it('keeps the key, the request hash and the first answer in the order itself: one document, no record', async () => {
    const k = key();
    const { body } = await place(k, 2);

    expect(await orders.find({})).toMatchObject([
      {
        idempotencyKey: `${ann.subject}:${k}`,
        requestHash: requestHashOf([{ productId: PRODUCT, quantity: 2 }]),
        answer: { status: 201, body: { ...body } },
        status: 'CONFIRMED',
      },
    ]);
    expect(await records.countBy({})).toBe(0);
  });

  it('replays a 4xx answer, and frees the key after a 5xx so that a retry places the order', async () => {
    const refused = key();
    const first = await failure(place(refused, 11));
    expect(first).toMatchObject({ code: 'out_of_stock', status: 409, details: { available: 10 } });
    stock.product(PRODUCT, 20);
    expect(await failure(place(refused, 11))).toMatchObject({
      code: 'out_of_stock',
      status: 409,
      message: (first as Error).message,
      details: { productId: PRODUCT, available: 10 },
    });

    const failed = key();
    stock.down = true;
    await expect(place(failed)).rejects.toMatchObject({ status: 503 });
    expect(await orders.find({})).toMatchObject([
      { status: 'REJECTED', reason: 'out_of_stock', idempotencyKey: `${ann.subject}:${refused}` },
      { status: 'REJECTED', reason: 'dependency_unavailable' },
    ]);
    expect(await orders.countBy({ idempotencyKey: `${ann.subject}:${failed}` })).toBe(0);
    stock.down = false;
    expect(await place(failed)).toMatchObject({ status: 201, body: { status: 'CONFIRMED' } });
  });

  it('answers 409 idempotency_in_progress to a duplicate while the first request runs', async () => {
    const k = key();
    customers.hold();
    const first = place(k);
    await expect.poll(() => orders.countBy({ idempotencyKey: `${ann.subject}:${k}` })).toBe(1);

    await expect(place(k)).rejects.toMatchObject({ status: 409, code: 'idempotency_in_progress' });
    customers.release();
    expect(await first).toMatchObject({ status: 201 });
    expect(await orders.countBy({})).toBe(1);
  });

  it('leaves neither order nor key behind when the buyer has no profile (422, not replayed)', async () => {
    const k = key();
    customers.missing = true;
    await expect(place(k)).rejects.toMatchObject({ status: 422, code: 'no_customer_profile' });
    expect(await orders.countBy({})).toBe(0);

    customers.missing = false;
    expect(await place(k)).toMatchObject({ status: 201 });
  });

  it('lets a key expire 24 hours after its first request: the next request with it places a new order, the old one stays', async () => {
    const k = key();
    const { body } = await place(k);
    const expired = new Date(Date.now() - IDEMPOTENCY_TTL_SECONDS * 1000 - 1000);
    await orders.updateMany({}, { $set: { createdAt: expired } });

    const again = await place(k);
    expect(again.body.id).not.toBe(body.id);
    expect(await orders.countBy({})).toBe(2);
    expect(await orders.countBy({ idempotencyKey: `${ann.subject}:${k}` })).toBe(1);
    expect(await place(k)).toEqual(again);
  });

  it('replays the keys of the separate collection written before keys moved into orders, until none is left', async () => {
    const now = new Date();
    const hash = requestHashOf([{ productId: PRODUCT, quantity: 1 }]);
    await records.insertMany([
      {
        key: `${ann.subject}:old-done`,
        requestHash: hash,
        state: 'DONE',
        status: 201,
        response: { id: 'a'.repeat(24), status: 'CONFIRMED' },
        orderId: 'a'.repeat(24),
        orderCreated: true,
        createdAt: now,
      },
      {
        key: `${ann.subject}:old-running`,
        requestHash: hash,
        state: 'IN_PROGRESS',
        status: null,
        response: null,
        orderId: 'b'.repeat(24),
        orderCreated: true,
        createdAt: now,
      },
    ]);
    expect(await service.refreshLegacyRecords()).toBe(true);

    expect(await place('old-done')).toEqual({
      status: 201,
      body: { id: 'a'.repeat(24), status: 'CONFIRMED' },
    });
    await expect(place('old-running')).rejects.toMatchObject({ status: 409 });
    await expect(place('old-done', 2)).rejects.toMatchObject({ status: 422 });
    expect(await orders.countBy({})).toBe(0);

    await records.deleteMany({});
    expect(await service.refreshLegacyRecords()).toBe(false);
    expect(await place('old-done')).toMatchObject({ status: 201, body: { status: 'CONFIRMED' } });
  });

  it('settles a stuck key of the separate collection once, and frees one only while its order is not recorded', async () => {
    const now = new Date();
    await records.insertMany([
      {
        key: 'u1:settle',
        requestHash: 'h',
        state: 'IN_PROGRESS',
        status: null,
        response: null,
        orderId: 'a'.repeat(24),
        orderCreated: true,
        createdAt: now,
      },
      {
        key: 'u1:free',
        requestHash: 'h',
        state: 'IN_PROGRESS',
        status: null,
        response: null,
        orderId: 'b'.repeat(24),
        orderCreated: true,
        createdAt: now,
      },
      {
        key: 'u1:legacy',
        requestHash: 'h',
        state: 'IN_PROGRESS',
        status: null,
        response: null,
        createdAt: now,
      },
    ]);
    const stuck = await service.stuck(new Date(now.getTime() + 1), 10);
    const byKey = Object.fromEntries(stuck.map((record) => [record.key, record]));
    expect(Object.keys(byKey).sort()).toEqual(['u1:free', 'u1:legacy', 'u1:settle']);
    expect(await service.stuck(now, 10)).toEqual([]);

    expect(await service.settle(byKey['u1:settle'], 201, { id: 'a' })).toBe(true);
    expect(await service.settle(byKey['u1:settle'], 201, { id: 'other' })).toBe(false);
    expect(await service.free(byKey['u1:free'], true)).toBe(false);
    expect(await service.free(byKey['u1:free'])).toBe(true);
    expect(await service.free(byKey['u1:legacy'], true)).toBe(true);
    expect(await records.find({})).toMatchObject([
      { key: 'u1:settle', state: 'DONE', status: 201, response: { id: 'a' } },
    ]);
  });

  it('lets records of the separate collection expire 24 hours after the first request (TTL index), never orders', async () => {
    const ttl = (await records.listCollectionIndexes().toArray()).find(
      (index) => index.expireAfterSeconds !== undefined,
    );
    expect(ttl).toMatchObject({ key: { createdAt: 1 }, expireAfterSeconds: 24 * 60 * 60 });
    const orderIndexes = await orders.listCollectionIndexes().toArray();
    expect(orderIndexes.filter((index) => index.expireAfterSeconds !== undefined)).toEqual([]);
    expect(orderIndexes.find((index) => index.key.idempotencyKey === 1)).toMatchObject({
      unique: true,
      sparse: true,
    });
  });
});
