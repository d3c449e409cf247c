import { Test, type TestingModule } from '@nestjs/testing';
import { getRepositoryToken, TypeOrmModule } from '@nestjs/typeorm';
import { ConfigModule, loadConfig } from '#lab/config';
import { DatabaseModule } from '#lab/database';
import { TelemetryModule } from '#lab/telemetry';
import { Query as BaseQuery } from 'mingo/query';
import { ObjectId } from 'mongodb';
import type { MongoRepository } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Order } from '../orders/order.entity.js';
import { OrderActivity } from '../orders/order-activity.js';
import { ORDER_EVENTS_CLIENT, OrderEventsRelay } from './order-events.relay.js';
import { OutboxMetrics } from './outbox.metrics.js';
import type { OutboxEntry } from './outbox.js';

const entry = (type: OutboxEntry['type']): OutboxEntry => ({ type, occurredAt: new Date(), trace: {} });

/** An order as the saga leaves it, with `outbox` waiting (none: an order from before the outbox). */
const order = (outbox: OutboxEntry[] | undefined): Order =>
  ({
    _id: new ObjectId(),
    userId: 'u1',
    status: outbox?.some((e) => e.type === 'order.rejected') ? 'REJECTED' : 'CONFIRMED',
    lines: [{ productId: '0123456789abcdef01234567', quantity: 1, unitPriceCents: 100 }],
    totalCents: 100,
    reason: null,
    releasePending: false,
    ...(outbox && { outbox }),
    createdAt: new Date(),
    updatedAt: new Date(),
  }) as Order;

describe('the outbox relay without a broker', () => {
  let moduleRef: TestingModule;
  let relay: OrderEventsRelay;
  let orders: MongoRepository<Order>;
  let metrics: OutboxMetrics;

  beforeAll(async () => {
    moduleRef = await Test.createTestingModule({
      imports: [
        ConfigModule.forConfig(loadConfig('order', {})),
        DatabaseModule.forRoot([Order]),
        TypeOrmModule.forFeature([Order]),
        TelemetryModule,
      ],
      providers: [
        OrderEventsRelay,
        OutboxMetrics,
        OrderActivity,
        { provide: ORDER_EVENTS_CLIENT, useValue: null },
      ],
    }).compile();
    await moduleRef.init();
    relay = moduleRef.get(OrderEventsRelay);
    // No timer: the spec runs the passes itself (a stopped relay runs none, so it is marked running again).
    await relay.onModuleDestroy();
    Reflect.set(relay, 'stopped', false);
    orders = moduleRef.get(getRepositoryToken(Order));
    metrics = moduleRef.get(OutboxMetrics);
    const confirmed = () => order([entry('order.confirmed')]);
    await orders.insertMany([
      ...Array.from({ length: 300 }, confirmed),
      ...Array.from({ length: 20 }, () => order([entry('order.confirmed'), entry('order.cancelled')])),
      ...Array.from({ length: 30 }, () => order([entry('order.rejected')])),
      ...Array.from({ length: 50 }, () => order([])),
      ...Array.from({ length: 10 }, () => order(undefined)),
    ]);
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    await moduleRef?.close();
  });

  const pendingGauge = async () => (await metrics.pending.get()).values[0]?.value;

  it('keeps the gauge at the number of events waiting in all orders', async () => {
    await relay.pass();
    expect(await pendingGauge()).toBe(300 + 2 * 20 + 30);
  });

  it('counts them without looking at the orders (the store reads the counts off the outbox.type index)', async () => {
    const tests = vi.spyOn(BaseQuery.prototype, 'test');
    await relay.pass();
    expect(tests).not.toHaveBeenCalled();
    tests.mockRestore();
    expect(await pendingGauge()).toBe(370);
  });

  it('indexes what the relay and the compensation sweep look for', async () => {
    const keys = (await orders.collectionIndexes()).map((index: { key: object }) => index.key);
    expect(keys).toEqual(
      expect.arrayContaining([{ 'outbox.type': 1 }, { status: 1 }, { releasePending: 1 }]),
    );
  });
});
