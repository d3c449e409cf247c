import { createHash } from 'node:crypto';
import { HttpException, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { isDuplicateKeyError } from '#lab/database';
import { LabError } from '#lab/errors';
import { ObjectId } from 'mongodb';
import type { MongoRepository } from 'typeorm';
import { IdempotencyRecord } from './idempotency-record.entity.js';

export interface Outcome<T> {
  status: number;
  body: T;
}

/** One attempt at the operation a key guards. */
export interface Attempt {
  /** The id the order of this attempt must get, recorded with the key before the operation starts. */
  readonly orderId: ObjectId;
  /**
   * Records that the order now exists. False when the compensation sweep freed the key first (the
   * request took too long): the caller must then give its order up.
   */
  orderCreated(): Promise<boolean>;
}

/** A record whose request has not answered (it is still running, or its process died). */
export type StuckRecord = Pick<IdempotencyRecord, 'key' | 'orderId' | 'orderCreated' | 'createdAt'>;

const inProgress = () =>
  new LabError(
    'idempotency_in_progress',
    'a request with this Idempotency-Key is in progress; retry shortly',
  );

/**
 * Runs an operation once per (user, Idempotency-Key): a retry of the same request replays the first
 * answer (errors included, except 5xx, which leave the key free for a retry); the same key with another
 * request is 422; a duplicate arriving while the first is still running is 409. A key whose request
 * died is settled by the compensation sweep ({@link settle} or {@link free}), never left stuck.
 */
@Injectable()
export class IdempotencyService {
  constructor(
    @InjectRepository(IdempotencyRecord) private readonly records: MongoRepository<IdempotencyRecord>,
  ) {}

  async run<T extends object>(
    userId: string,
    key: string,
    request: unknown,
    operation: (attempt: Attempt) => Promise<Outcome<T>>,
  ): Promise<Outcome<T>> {
    const id = `${userId}:${key}`;
    const requestHash = createHash('sha256').update(JSON.stringify(request)).digest('hex');
    const orderId = new ObjectId();
    const mine = { key: id, orderId: orderId.toHexString(), state: 'IN_PROGRESS' as const };
    try {
      await this.records.insertOne({
        ...mine,
        requestHash,
        status: null,
        response: null,
        orderCreated: false,
        createdAt: new Date(),
      });
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
      return this.replay<T>(id, requestHash);
    }

    const attempt: Attempt = {
      orderId,
      orderCreated: async () => {
        const result = await this.records.updateOne(mine, { $set: { orderCreated: true } });
        return result.modifiedCount === 1;
      },
    };
    try {
      const outcome = await operation(attempt);
      await this.finish(mine, outcome.status, outcome.body as Record<string, unknown>);
      return outcome;
    } catch (error) {
      if (error instanceof LabError && error.status < 500) {
        await this.finish(mine, error.status, error.toRecord());
      } else {
        await this.records.deleteOne(mine);
      }
      throw error;
    }
  }

  /** Records whose request has not answered since before `before`, oldest first. */
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
   * request has not recorded its order (it may still be running). False if nothing was freed.
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

  private async finish(
    mine: { key: string; orderId: string },
    status: number,
    response: Record<string, unknown>,
  ): Promise<void> {
    await this.records.updateOne(
      { ...mine, state: 'IN_PROGRESS' },
      { $set: { state: 'DONE', status, response } },
    );
  }

  private async replay<T>(id: string, requestHash: string): Promise<Outcome<T>> {
    const record = await this.records.findOne({ where: { key: id } });
    if (!record) throw inProgress();
    if (record.requestHash !== requestHash) {
      throw new LabError('idempotency_key_reused', 'this Idempotency-Key was used for a different request');
    }
    if (record.state === 'IN_PROGRESS' || record.status === null || record.response === null) {
      throw inProgress();
    }
    // A refusal replays as the same error (an answer recorded without a known code, as it was recorded).
    if (record.status >= 400)
      throw LabError.fromRecord(record.response) ?? new HttpException(record.response, record.status);
    return { status: record.status, body: record.response as T };
  }
}
