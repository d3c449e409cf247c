import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { OrderEvent } from '#lab/events';
import type { Document, PushOperator } from 'mongodb';
import type { MongoRepository } from 'typeorm';
import { Customer } from '../customers/customer.entity.js';

/** Event ids applied to a customer's summary that are remembered (for duplicates): the latest ones. */
export const REMEMBERED_EVENTS = 500;

/** An event for a user without a profile: it may still be being created, so it is retried. */
export class CustomerNotFoundError extends Error {
  constructor(userId: string) {
    super(`no customer profile for user ${userId}`);
    this.name = 'CustomerNotFoundError';
  }
}

/**
 * Applies order events to the customer's summary, idempotently by `eventId`: the change and the
 * event's id go into the customer document in one update, which matches only while the id is not
 * there yet, so a redelivered or duplicated event changes nothing.
 */
@Injectable()
export class OrderSummaryService {
  constructor(@InjectRepository(Customer) private readonly customers: MongoRepository<Customer>) {}

  /** `processed` (applied, or nothing to apply), `duplicate` (applied before); throws when it must be retried. */
  async apply(event: OrderEvent): Promise<'processed' | 'duplicate'> {
    const cents = Math.round((event.total ?? 0) * 100);
    const change =
      event.type === 'order.confirmed'
        ? {
            $inc: { 'orderSummary.count': 1, 'orderSummary.totalSpentCents': cents },
            $max: { 'orderSummary.lastOrderAt': new Date(event.occurredAt) },
          }
        : event.type === 'order.cancelled'
          ? { $inc: { 'orderSummary.count': -1, 'orderSummary.totalSpentCents': -cents } }
          : {};
    const result = await this.customers.updateOne(
      { userId: event.userId, orderEventIds: { $ne: event.eventId } },
      {
        ...change,
        $push: {
          orderEventIds: { $each: [event.eventId], $slice: -REMEMBERED_EVENTS },
        } as unknown as PushOperator<Document>,
      },
    );
    if (result.matchedCount === 1) return 'processed';
    if (await this.customers.countDocuments({ userId: event.userId }, { limit: 1 })) return 'duplicate';
    throw new CustomerNotFoundError(event.userId);
  }
}
