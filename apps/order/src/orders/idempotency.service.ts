import { hash } from 'node:crypto';
import { HttpException, Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { isDuplicateKeyError } from '#lab/database';
import { LabError } from '#lab/errors';
import type { MongoRepository } from 'typeorm';
import { IDEMPOTENCY_TTL_SECONDS, IdempotencyRecord } from './idempotency-record.entity.js';
import { Order, type StoredAnswer } from './order.entity.js';

export interface Outcome<T> {
  status: number;
  body: T;
}

/** A record of the separate collection whose request has not answered (records from before keys moved into orders). */
export type StuckRecord = Pick<IdempotencyRecord, 'key' | 'orderId' | 'orderCreated' | 'createdAt'>;

/** A new order with the key it holds (`idempotencyKey`, `requestHash`, no answer yet). */
export type KeyedOrder = Order & Required<Pick<Order, 'idempotencyKey' | 'requestHash'>>;

const inProgress = () =>
  new LabError(
    'idempotency_in_progress',
    'a request with this Idempotency-Key is in progress; retry shortly',
  );

/**
 * sha256 of the canonical request, to tell a retry from a different request reusing the key (one-shot
 * `hash`: the same digest as a `Hash` object's, without making one per order).
 */
export function requestHashOf(request: unknown): string {
  return hash('sha256', JSON.stringify(request), 'hex');
}

/** The answer a stored first answer replays as: the body, or the refusal as the same error. */
function replayOf<T>(answer: StoredAnswer): Outcome<T> {
  if (answer.status >= 400)
    throw LabError.fromRecord(answer.body) ?? new HttpException(answer.body, answer.status);
  return { status: answer.status, body: answer.body as T };
}

/**
 * One order per (user, Idempotency-Key). The key lives in the order document itself (`idempotencyKey`,
 * unique), so claiming it and storing the order is one insert, and the answer is stored by the same
 * update that settles the order. A retry of the same request replays the first answer (refusals
 * included; a 5xx frees the key for a retry); the same key with another request is 422; a duplicate
 * arriving while the first is still running is 409. Keys expire {@link IDEMPOTENCY_TTL_SECONDS} after
 * their first request: the next request with an expired key takes it over (the order stays).
 *
 * Records of the separate `idempotency_records` collection (written before keys moved into orders)
 * are still replayed, settled by the compensation sweep and expired by their TTL index; while any
 * exist, each new key is looked up there first (one more read), and once the collection is empty, no more.
 */
@Injectable()
export class IdempotencyService implements OnModuleInit {
  private legacyRecords = true;

  constructor(
    @InjectRepository(Order) private readonly orders: MongoRepository<Order>,
    @InjectRepository(IdempotencyRecord) private readonly records: MongoRepository<IdempotencyRecord>,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.refreshLegacyRecords();
  }

  /** Whether records of the separate collection may still exist (checked at start-up and by each sweep while true). */
  get hasLegacyRecords(): boolean {
    return this.legacyRecords;
  }

  async refreshLegacyRecords(): Promise<boolean> {
    this.legacyRecords = (await this.records.findOne({ where: {} })) !== null;
    return this.legacyRecords;
  }

  /**
   * Inserts the order, claiming its key: undefined when this request now holds the key; otherwise the
   * first answer of the earlier request with it (or 409 while it runs, 422 for another request).
   */
  async claim<T>(order: KeyedOrder): Promise<Outcome<T> | undefined> {
    const legacy = await this.legacyReplay<T>(order.idempotencyKey, order.requestHash);
    if (legacy) return legacy;
    // Bounded: a second round only after the key was freed or found expired meanwhile.
    for (let round = 0; round < 3; round++) {
      try {
        await this.orders.insertOne(order);
        return undefined;
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
      }
      const earlier = await this.orders.findOne({ where: { idempotencyKey: order.idempotencyKey } });
      if (!earlier) continue;
      if (order.createdAt.getTime() - earlier.createdAt.getTime() >= IDEMPOTENCY_TTL_SECONDS * 1000) {
        // Expired: the key goes, the order stays.
        await this.orders.updateOne(
          { _id: earlier._id, idempotencyKey: order.idempotencyKey },
          { $unset: { idempotencyKey: '' } },
        );
        continue;
      }
      if (earlier.requestHash !== order.requestHash) {
        throw new LabError('idempotency_key_reused', 'this Idempotency-Key was used for a different request');
      }
      if (!earlier.answer) throw inProgress();
      return replayOf<T>(earlier.answer);
    }
    throw inProgress();
  }

  /** The first answer recorded for `key` in the separate collection; undefined when it holds none. */
  private async legacyReplay<T>(key: string, requestHash: string): Promise<Outcome<T> | undefined> {
    if (!this.legacyRecords) return undefined;
    const record = await this.records.findOne({ where: { key } });
    if (!record) return undefined;
    if (record.requestHash !== requestHash) {
      throw new LabError('idempotency_key_reused', 'this Idempotency-Key was used for a different request');
    }
    if (record.state === 'IN_PROGRESS' || record.status === null || record.response === null) {
      throw inProgress();
    }
    return replayOf<T>({ status: record.status, body: record.response });
  }

  /** Records of the separate collection whose request has not answered since before `before`, oldest first. */
  stuck(before: Date, limit: number): Promise<StuckRecord[]> {
    return this.records.find({
      where: { state: 'IN_PROGRESS', createdAt: { $lt: before } },
      order: { createdAt: 'ASC' },
      take: limit,
    });
  }

  /** Records the answer of a stuck key's settled order, replayed from now on. False if it was settled meanwhile. */
  async settle(record: StuckRecord, status: number, response: Record<string, unknown>): Promise<boolean> {
    const result = await this.records.updateOne(this.attemptOf(record), {
      $set: { state: 'DONE', status, response },
    });
    return result.modifiedCount === 1;
  }

  /**
   * Frees a stuck key, so a retry with it is a new attempt. With `unlessOrderCreated`, only while the
   * request has not recorded its order. False if nothing was freed.
   */
  async free(record: StuckRecord, unlessOrderCreated = false): Promise<boolean> {
    const filter = unlessOrderCreated
      ? { ...this.attemptOf(record), orderCreated: { $ne: true } }
      : this.attemptOf(record);
    const result = await this.records.deleteOne(filter);
    return result.deletedCount === 1;
  }

  /** This attempt's record while unanswered (records from before `orderId` existed: by key alone). */
  private attemptOf(record: StuckRecord) {
    return {
      key: record.key,
      state: 'IN_PROGRESS' as const,
      ...(typeof record.orderId === 'string' ? { orderId: record.orderId } : { orderId: { $exists: false } }),
    };
  }
}
