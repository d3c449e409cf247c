import { createHash } from 'node:crypto';
import { ConflictException, HttpException, Injectable, UnprocessableEntityException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { isDuplicateKeyError } from '#lab/database';
import type { MongoRepository } from 'typeorm';
import { IdempotencyRecord } from './idempotency-record.entity.js';

export interface Outcome<T> {
  status: number;
  body: T;
}

/**
 * Runs an operation once per (user, Idempotency-Key): a retry of the same request replays the first
 * answer (errors included, except 5xx, which leave the key free for a retry); the same key with another
 * request is 422; a duplicate arriving while the first is still running is 409.
 */
@Injectable()
export class IdempotencyService {
  constructor(@InjectRepository(IdempotencyRecord) private readonly records: MongoRepository<IdempotencyRecord>) {}

  async run<T extends object>(userId: string, key: string, request: unknown, operation: () => Promise<Outcome<T>>): Promise<Outcome<T>> {
    const id = `${userId}:${key}`;
    const requestHash = createHash('sha256').update(JSON.stringify(request)).digest('hex');
    try {
      await this.records.insertOne({ key: id, requestHash, state: 'IN_PROGRESS', status: null, response: null, createdAt: new Date() });
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
      return this.replay<T>(id, requestHash);
    }

    try {
      const outcome = await operation();
      await this.finish(id, outcome.status, outcome.body as Record<string, unknown>);
      return outcome;
    } catch (error) {
      if (error instanceof HttpException && error.getStatus() < 500) {
        const response = error.getResponse();
        await this.finish(id, error.getStatus(), typeof response === 'object' ? (response as Record<string, unknown>) : { message: response });
      } else {
        await this.records.deleteOne({ key: id });
      }
      throw error;
    }
  }

  private async finish(id: string, status: number, response: Record<string, unknown>): Promise<void> {
    await this.records.updateOne({ key: id }, { $set: { state: 'DONE', status, response } });
  }

  private async replay<T>(id: string, requestHash: string): Promise<Outcome<T>> {
    const record = await this.records.findOne({ where: { key: id } });
    if (!record) throw new ConflictException({ message: 'a request with this Idempotency-Key is in progress; retry shortly', code: 'idempotency_in_progress' });
    if (record.requestHash !== requestHash) {
      throw new UnprocessableEntityException({ message: 'this Idempotency-Key was used for a different request', code: 'idempotency_key_reused' });
    }
    if (record.state === 'IN_PROGRESS' || record.status === null || record.response === null) {
      throw new ConflictException({ message: 'a request with this Idempotency-Key is in progress; retry shortly', code: 'idempotency_in_progress' });
    }
    if (record.status >= 400) throw new HttpException(record.response, record.status);
    return { status: record.status, body: record.response as T };
  }
}
