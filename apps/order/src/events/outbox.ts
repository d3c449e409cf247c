import { context, propagation } from '@opentelemetry/api';
import type { OrderEventType } from '#lab/events';
import type { Document, PullOperator, PushOperator } from 'mongodb';

/**
 * An event waiting in its order's `outbox`: written in the same update as the status change it tells
 * of (the store has no multi-document transactions), removed once the broker confirmed it. The rest of
 * the event (ids, total, lines) is read from the order when it is published: none of it changes after
 * the status change.
 */
export interface OutboxEntry {
  type: OrderEventType;
  occurredAt: Date;
  /** W3C trace context of the request that changed the status, so the PRODUCER span joins its trace. */
  trace: Record<string, string>;
}

/** An outbox entry for `type`, in the active trace context. */
export function outboxEntry(type: OrderEventType, occurredAt = new Date()): OutboxEntry {
  const trace: Record<string, string> = {};
  propagation.inject(context.active(), trace);
  return { type, occurredAt, trace };
}

// TypeORM types updates against a schemaless Document, on which the driver's types accept no array operator.
/** The `$push` that puts an event of `type` in the outbox, for the update that changes the status. */
export function pushToOutbox(type: OrderEventType): { $push: PushOperator<Document> } {
  return { $push: { outbox: outboxEntry(type) } as unknown as PushOperator<Document> };
}

/** The `$pull` that takes a published event of `type` out of the outbox. */
export function pullFromOutbox(type: OrderEventType): { $pull: PullOperator<Document> } {
  return { $pull: { outbox: { type } } as unknown as PullOperator<Document> };
}
