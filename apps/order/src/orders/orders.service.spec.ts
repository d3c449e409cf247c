import type { TestingModule } from '@nestjs/testing';
import { getRepositoryToken } from '@nestjs/typeorm';
import type { Principal } from '#lab/auth';
import type { MongoRepository } from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CustomerServiceStandIn, ProductStockStandIn } from '../../test/stand-ins.js';
import { orderTestingModule } from '../../test/testing-module.js';
import { CompensationService } from './compensation.service.js';
import { Order } from './order.entity.js';
import { OrdersService } from './orders.service.js';

const PRODUCT = '0123456789abcdef01234567';

describe(OrdersService.name, () => {
  let moduleRef: TestingModule;
  let service: OrdersService;
  let compensation: CompensationService;
  let orders: MongoRepository<Order>;
  const stock = new ProductStockStandIn();
  const customers = new CustomerServiceStandIn();
  const ann = { subject: '64b7f0c2a1b2c3d4e5f60719', scopes: ['orders', 'profile'] } as unknown as Principal;
  let n = 0;
  const place = (quantity = 1, key = `key-${++n}`) =>
    service.create(ann, 'Bearer x', key, [{ productId: PRODUCT, quantity }]);
  const statusOf = async (id: string) =>
    (await orders.findOneBy({ _id: (await service.findVisible(ann, id))._id }))?.status;

  beforeAll(async () => {
    moduleRef = await orderTestingModule(stock, customers);
    service = moduleRef.get(OrdersService);
    compensation = moduleRef.get(CompensationService);
    orders = moduleRef.get(getRepositoryToken(Order));
  });
  beforeEach(async () => {
    await orders.deleteMany({});
    stock.down = false;
    stock.product(PRODUCT, 10);
  });
  afterAll(async () => {
    await moduleRef?.close();
  });

  it('confirms an order with the id recorded under its key, taking its stock once', async () => {
    const placed = await place(3);

    expect(placed).toMatchObject({ status: 201, body: { status: 'CONFIRMED', total: 7.5 } });
    expect(stock.stock.get(PRODUCT)).toBe(7);
    expect(await orders.countBy({})).toBe(1);
  });

  it('cancels through CANCELLING: the stock comes back once, and cancelling again changes nothing', async () => {
    const { body } = await place(4);

    expect((await service.cancel(ann, body.id)).status).toBe('CANCELLED');
    expect((await service.cancel(ann, body.id)).status).toBe('CANCELLED');
    expect(stock.stock.get(PRODUCT)).toBe(10);
    expect(stock.releaseCalls).toBeGreaterThanOrEqual(1);
  });

  it('answers 503 while the product service is down and leaves the order CANCELLING with its stock taken; the sweep finishes it', async () => {
    const { body } = await place(2);
    stock.down = true;

    await expect(service.cancel(ann, body.id)).rejects.toMatchObject({
      status: 503,
      code: 'dependency_unavailable',
    });
    expect(await statusOf(body.id)).toBe('CANCELLING');
    expect(stock.stock.get(PRODUCT)).toBe(8);
    expect((await compensation.sweep()).cancel_completed).toBe(0);
    expect(await statusOf(body.id)).toBe('CANCELLING');

    stock.down = false;
    expect((await compensation.sweep()).cancel_completed).toBe(1);
    expect(await statusOf(body.id)).toBe('CANCELLED');
    expect(stock.stock.get(PRODUCT)).toBe(10);
    expect((await service.cancel(ann, body.id)).status).toBe('CANCELLED');
    expect(stock.stock.get(PRODUCT)).toBe(10);
  });

  it('finishes a cancel whose process died after recording the intent, by a later cancel or the sweep', async () => {
    const first = await place(1);
    const second = await place(2);
    // What a crash between "CANCELLING persisted" and the release leaves behind.
    await orders.updateMany({}, { $set: { status: 'CANCELLING' } });

    expect((await service.cancel(ann, first.body.id)).status).toBe('CANCELLED');
    expect((await compensation.sweep()).cancel_completed).toBe(1);
    expect(await statusOf(second.body.id)).toBe('CANCELLED');
    expect(stock.stock.get(PRODUCT)).toBe(10);
  });

  it('refuses to cancel a rejected order with 409 not_cancellable', async () => {
    await expect(place(11)).rejects.toMatchObject({ status: 409 });
    const [rejected] = await orders.find({});

    await expect(service.cancel(ann, rejected._id.toHexString())).rejects.toMatchObject({
      status: 409,
      code: 'not_cancellable',
    });
  });

  it('gives up its order with 503 when the sweep abandoned it (and freed its key) while it was stuck', async () => {
    customers.hold();
    const calls = customers.calls;
    const late = place(1, 'slow-key');
    await expect.poll(() => customers.calls).toBe(calls + 1);
    const report = await compensation.sweep(new Date(Date.now() + 31_000));
    expect(report.abandoned).toBe(1);
    customers.release();

    await expect(late).rejects.toMatchObject({ status: 503 });
    expect(await orders.find({})).toMatchObject([{ status: 'REJECTED', reason: 'abandoned' }]);
    expect(stock.stock.get(PRODUCT)).toBe(10);
    expect(await place(1, 'slow-key')).toMatchObject({ status: 201, body: { status: 'CONFIRMED' } });
  });
});
