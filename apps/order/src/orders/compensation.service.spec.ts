import { AsyncLocalStorage } from 'node:async_hooks';
import type { TestingModule } from '@nestjs/testing';
import { getRepositoryToken } from '@nestjs/typeorm';
import type { Principal } from '#lab/auth';
import type { MongoRepository } from 'typeorm';
import { TraceService } from 'nestjs-otel';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { CustomerServiceStandIn, ProductStockStandIn } from '../../test/stand-ins.js';
import { orderTestingModule } from '../../test/testing-module.js';
import { ABANDONED_AFTER_MS, CompensationService, SWEEP_EVERY_MS } from './compensation.service.js';
import { IdempotencyRecord } from './idempotency-record.entity.js';
import { IdempotencyService, requestHashOf } from './idempotency.service.js';
import { Order } from './order.entity.js';
import { OrderActivity } from './order-activity.js';
import { OrderMetrics } from './order.metrics.js';
import { OrdersService } from './orders.service.js';

const PRODUCT = '0123456789abcdef01234567';

describe(CompensationService.name, () => {
  let moduleRef: TestingModule;
  let service: OrdersService;
  let compensation: CompensationService;
  let orders: MongoRepository<Order>;
  let records: MongoRepository<IdempotencyRecord>;
  let idempotency: IdempotencyService;
  const stock = new ProductStockStandIn();
  const customers = new CustomerServiceStandIn();
  const ann = { subject: '64b7f0c2a1b2c3d4e5f60719', scopes: ['orders'] } as unknown as Principal;
  const place = (key: string, quantity = 1) =>
    service.create(ann, 'Bearer x', key, [{ productId: PRODUCT, quantity }]);
  /** A sweep as it runs once the request has been silent for longer than the abandonment limit. */
  const sweepLater = () => compensation.sweep(new Date(Date.now() + ABANDONED_AFTER_MS + 1000));

  beforeAll(async () => {
    moduleRef = await orderTestingModule(stock, customers);
    service = moduleRef.get(OrdersService);
    compensation = moduleRef.get(CompensationService);
    orders = moduleRef.get(getRepositoryToken(Order));
    records = moduleRef.get(getRepositoryToken(IdempotencyRecord));
    idempotency = moduleRef.get(IdempotencyService);
  });
  beforeEach(async () => {
    await orders.deleteMany({});
    await records.deleteMany({});
    await idempotency.refreshLegacyRecords();
    customers.release();
    stock.down = false;
    stock.product(PRODUCT, 10);
  });
  afterAll(async () => {
    await moduleRef?.close();
  });

  it('settles a key of the separate collection whose request died after confirming: a retry gets that order, never a second one', async () => {
    const placed = await place('died-after-confirm', 2);
    // What a crash between "order CONFIRMED" and "answer recorded" left behind before keys moved into orders.
    await orders.updateMany({}, { $unset: { idempotencyKey: '', requestHash: '', answer: '' } });
    const [order] = await orders.find({});
    await records.insertOne({
      key: `${ann.subject}:died-after-confirm`,
      requestHash: requestHashOf([{ productId: PRODUCT, quantity: 2 }]),
      state: 'IN_PROGRESS',
      status: null,
      response: null,
      orderId: order._id.toHexString(),
      orderCreated: true,
      createdAt: new Date(),
    });
    await idempotency.refreshLegacyRecords();
    await expect(place('died-after-confirm', 2)).rejects.toMatchObject({
      status: 409,
      code: 'idempotency_in_progress',
    });

    expect(await compensation.sweep()).toMatchObject({ key_settled: 0, key_freed: 0 });
    expect(await sweepLater()).toMatchObject({ key_settled: 1, key_freed: 0 });

    expect(await place('died-after-confirm', 2)).toEqual({ status: 201, body: placed.body });
    expect(await orders.countBy({})).toBe(1);
    expect(stock.stock.get(PRODUCT)).toBe(8);
    expect(await sweepLater()).toMatchObject({ key_settled: 0, key_freed: 0 });
  });

  it('rejects the order of a request stuck before its reservation and frees its key: a retry places it', async () => {
    customers.hold();
    const stuck = place('died-early').catch((error: unknown) => error);
    await expect.poll(() => orders.countBy({ status: 'PENDING' })).toBe(1);

    expect(await sweepLater()).toMatchObject({ abandoned: 1, key_freed: 0, key_settled: 0 });
    customers.release();
    await expect(place('died-early')).resolves.toMatchObject({ status: 201 });
    // Had it only been stuck, not dead, it now gives its order up instead of placing a second one.
    expect(await stuck).toMatchObject({ status: 503 });
    expect(await orders.countBy({ status: 'CONFIRMED' })).toBe(1);
    expect(stock.stock.get(PRODUCT)).toBe(9);
  });

  it('rejects the PENDING order of a request that died mid-reservation, puts its stock back and frees the key', async () => {
    const reserve = stock.reserve.bind(stock);
    // The request reserves, then its process dies before it confirms (the answer never arrives).
    stock.reserve = async (orderId, lines) => {
      await reserve(orderId, lines);
      return new Promise(() => undefined);
    };
    void place('died-mid-saga', 3);
    await expect.poll(() => stock.stock.get(PRODUCT)).toBe(7);
    stock.reserve = reserve;
    await expect(place('died-mid-saga', 3)).rejects.toMatchObject({ status: 409 });

    expect(await sweepLater()).toMatchObject({ abandoned: 1, released: 1, key_freed: 0 });
    expect(await orders.find({})).toMatchObject([
      { status: 'REJECTED', reason: 'abandoned', releasePending: false },
    ]);
    expect(stock.stock.get(PRODUCT)).toBe(10);
    expect(await place('died-mid-saga', 3)).toMatchObject({ status: 201, body: { status: 'CONFIRMED' } });
    expect(stock.stock.get(PRODUCT)).toBe(7);
  });

  it('leaves a key alone while its request may still be running', async () => {
    customers.hold();
    const running = place('still-running');
    await expect.poll(() => orders.countBy({ status: 'PENDING' })).toBe(1);

    expect(await compensation.sweep()).toMatchObject({ key_freed: 0, key_settled: 0, abandoned: 0 });
    await expect(place('still-running')).rejects.toMatchObject({ status: 409 });
    customers.release();
    expect(await running).toMatchObject({ status: 201 });
  });

  it('goes idle once nothing it wrote can still need it and nothing waits, and not while something does', async () => {
    const later = (ms: number) => compensation.sweep(new Date(Date.now() + ms));
    const { body } = await place('idle');
    await compensation.sweep();
    expect(compensation.idle).toBe(false);
    // Past the window in which an order placed now could still be abandoned.
    await later(ABANDONED_AFTER_MS + 5 * SWEEP_EVERY_MS);
    expect(compensation.idle).toBe(true);

    stock.down = true;
    await expect(service.cancel(ann, body.id)).rejects.toMatchObject({ status: 503 });
    await later(ABANDONED_AFTER_MS + 5 * SWEEP_EVERY_MS);
    expect(compensation.idle).toBe(false);
    stock.down = false;
    expect(await later(ABANDONED_AFTER_MS + 5 * SWEEP_EVERY_MS)).toMatchObject({ cancel_completed: 1 });
    await later(ABANDONED_AFTER_MS + 5 * SWEEP_EVERY_MS);
    expect(compensation.idle).toBe(true);
  });

  it("runs the sweep a request's write asked for outside that request's context (trace, request id)", async () => {
    const request = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    // The orders as the sweep sees them, noting the context of its first query.
    const watched = Object.create(orders, {
      updateMany: {
        value: (...args: Parameters<MongoRepository<Order>['updateMany']>) => {
          seen.push(request.getStore() ?? 'none');
          return orders.updateMany(...args);
        },
      },
    }) as MongoRepository<Order>;
    const activity = new OrderActivity();
    const sweeper = new CompensationService(
      watched,
      service,
      idempotency,
      moduleRef.get(OrderMetrics),
      moduleRef.get(TraceService),
      activity,
    );
    try {
      request.run('request-1', () => activity.written());
      await vi.waitFor(() => expect(seen).toHaveLength(1), { timeout: 3 * SWEEP_EVERY_MS, interval: 50 });
      expect(seen).toEqual(['none']);
    } finally {
      sweeper.onModuleDestroy();
    }
  });
});
