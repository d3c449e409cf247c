import { ServiceUnavailableException } from '@nestjs/common';
import { LabError } from '#lab/errors';
import type { TestingModule } from '@nestjs/testing';
import { getRepositoryToken } from '@nestjs/typeorm';
import type { MongoRepository } from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CustomerServiceStandIn, ProductStockStandIn } from '../../test/stand-ins.js';
import { orderTestingModule } from '../../test/testing-module.js';
import { IdempotencyRecord } from './idempotency-record.entity.js';
import { type Attempt, IdempotencyService, type Outcome } from './idempotency.service.js';

describe(IdempotencyService.name, () => {
  let moduleRef: TestingModule;
  let service: IdempotencyService;
  let records: MongoRepository<IdempotencyRecord>;
  let n = 0;
  const key = () => `key-${++n}`;
  const ok = (body: object) => async () => ({ status: 201, body });

  beforeAll(async () => {
    moduleRef = await orderTestingModule(new ProductStockStandIn(), new CustomerServiceStandIn());
    service = moduleRef.get(IdempotencyService);
    records = moduleRef.get(getRepositoryToken(IdempotencyRecord));
  });
  beforeEach(async () => {
    await records.deleteMany({});
  });
  afterAll(async () => {
    await moduleRef?.close();
  });

  it('runs once per user and key, replaying the first answer, and refuses another request with 422', async () => {
    const k = key();
    let runs = 0;
    const operation = async () => ({ status: 201, body: { run: ++runs } });

    expect(await service.run('u1', k, { a: 1 }, operation)).toEqual({ status: 201, body: { run: 1 } });
    expect(await service.run('u1', k, { a: 1 }, operation)).toEqual({ status: 201, body: { run: 1 } });
    await expect(service.run('u1', k, { a: 2 }, operation)).rejects.toMatchObject({ status: 422 });
    expect(await service.run('u2', k, { a: 1 }, operation)).toEqual({ status: 201, body: { run: 2 } });
  });

  it('replays a 4xx answer, and frees the key after a 5xx so that a retry runs again', async () => {
    const refused = key();
    const refusal = () =>
      Promise.reject(new LabError('out_of_stock', 'no', { details: { productId: 'p', available: 1 } }));
    await expect(service.run('u1', refused, {}, refusal)).rejects.toBeInstanceOf(LabError);
    const replayed = await service.run('u1', refused, {}, ok({})).catch((error: unknown) => error);
    expect(replayed).toBeInstanceOf(LabError);
    expect(replayed).toMatchObject({
      code: 'out_of_stock',
      status: 409,
      message: 'no',
      details: { productId: 'p', available: 1 },
    });

    const failed = key();
    await expect(
      service.run('u1', failed, {}, () => Promise.reject(new ServiceUnavailableException())),
    ).rejects.toMatchObject({ status: 503 });
    expect(await records.countBy({ key: `u1:${failed}` })).toBe(0);
    expect(await service.run('u1', failed, {}, ok({ second: true }))).toEqual({
      status: 201,
      body: { second: true },
    });
  });

  it('answers 409 idempotency_in_progress to a duplicate while the first request runs', async () => {
    const k = key();
    let finish!: () => void;
    const first = service.run(
      'u1',
      k,
      {},
      () =>
        new Promise<Outcome<object>>(
          (resolve) => (finish = () => resolve({ status: 201, body: { first: true } })),
        ),
    );
    await expect.poll(() => records.countBy({ key: `u1:${k}` })).toBe(1);

    await expect(service.run('u1', k, {}, ok({}))).rejects.toMatchObject({
      status: 409,
      code: 'idempotency_in_progress',
    });
    finish();
    expect(await first).toEqual({ status: 201, body: { first: true } });
  });

  it('records the order id of each attempt with the key before the operation runs, and when the order exists', async () => {
    const k = key();
    let seen: { attempt: Attempt; record: IdempotencyRecord | null } | undefined;
    await service.run('u1', k, {}, async (attempt) => {
      const before = await records.findOneBy({ key: `u1:${k}` });
      expect(await attempt.orderCreated()).toBe(true);
      seen = { attempt, record: before };
      return { status: 201, body: {} };
    });

    expect(seen?.record).toMatchObject({
      state: 'IN_PROGRESS',
      orderId: seen?.attempt.orderId.toHexString(),
      orderCreated: false,
    });
    expect(await records.findOneBy({ key: `u1:${k}` })).toMatchObject({
      state: 'DONE',
      status: 201,
      orderCreated: true,
    });
  });

  it('never touches the record of a newer attempt: a late request whose key was freed changes nothing', async () => {
    const k = key();
    let late!: Attempt;
    let finish!: () => void;
    const first = service.run('u1', k, {}, (attempt) => {
      late = attempt;
      return new Promise<Outcome<object>>(
        (resolve) => (finish = () => resolve({ status: 201, body: { first: true } })),
      );
    });
    await expect.poll(() => records.countBy({ key: `u1:${k}` })).toBe(1);
    const [stuck] = await service.stuck(new Date(Date.now() + 1000), 10);
    expect(await service.free(stuck, true)).toBe(true);
    const second = await service.run('u1', k, {}, async (attempt) => {
      expect(attempt.orderId.equals(late.orderId)).toBe(false);
      return { status: 201, body: { second: true } };
    });

    expect(await late.orderCreated()).toBe(false);
    finish();
    await first;
    expect(second.body).toEqual({ second: true });
    expect(await service.run('u1', k, {}, ok({}))).toEqual({ status: 201, body: { second: true } });
  });

  it('settles a stuck key once, and frees one only while its order is not recorded', async () => {
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

  it('lets records expire 24 hours after the first request (TTL index on createdAt)', async () => {
    const indexes = await records.listCollectionIndexes().toArray();
    const ttl = indexes.find((index) => index.expireAfterSeconds !== undefined);
    expect(ttl).toMatchObject({ key: { createdAt: 1 }, expireAfterSeconds: 24 * 60 * 60 });
  });
});
