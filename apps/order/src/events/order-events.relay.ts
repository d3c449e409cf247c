import { AsyncResource } from 'node:async_hooks';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  type OnModuleInit,
  Optional,
} from '@nestjs/common';
import { RmqRecordBuilder } from '@nestjs/microservices';
import { InjectRepository } from '@nestjs/typeorm';
import { context, propagation, ROOT_CONTEXT } from '@opentelemetry/api';
import { collectionOf } from '#lab/database';
import {
  ORDER_EVENT_SCHEMA_VERSION,
  ORDER_EVENT_TYPES,
  type OrderEvent,
  type OrderEventType,
  orderEventId,
} from '#lab/events';
import { lastValueFrom, timeout } from 'rxjs';
import type { ObjectId } from 'mongodb';
import type { MongoRepository } from 'typeorm';
import { OrderActivity } from '../orders/order-activity.js';
import { Order } from '../orders/order.entity.js';
import { OrderEventsClient } from './order-events.client.js';
import { type OutboxEntry, pullFromOutbox } from './outbox.js';
import { OutboxMetrics } from './outbox.metrics.js';

/** Provider token of the {@link OrderEventsClient}; null when AMQP_URL is not set (no events). */
export const ORDER_EVENTS_CLIENT = Symbol('ORDER_EVENTS_CLIENT');

/**
 * A pass reads the orders with events waiting (by the `outbox.type` index), so not more often than
 * this, and only while events may be waiting: this instance wrote an order since the last pass, or the
 * last pass left events behind (a failed publish, a full batch). Otherwise one pass a minute, for events
 * another instance left. Without a broker only the gauge is kept, at most every 10 s and only after a write.
 */
export const PASS_EVERY_MS = 1000;
export const COUNT_ONLY_EVERY_MS = 10_000;
export const SAFETY_PASS_EVERY_MS = 60_000;
/** After a failed publish (broker down), the next passes wait this long, doubling up to the maximum. */
const BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 5000;
/** A publish the broker has not confirmed by then failed (it is published again: the consumer dedupes). */
const CONFIRM_TIMEOUT_MS = 5000;
const BATCH = 100;
/**
 * Orders with an event waiting: looked up in the `outbox.type` index (every entry has one of these
 * types), where `{ 'outbox.0': { $exists: true } }` made the store look at every order.
 */
const PENDING = { 'outbox.type': { $in: [...ORDER_EVENT_TYPES] } };
/** The index that answers {@link PENDING} and counts the events waiting (see {@link OrderEventsRelay.countPending}). */
export const OUTBOX_TYPE_INDEX = { key: { 'outbox.type': 1 }, name: 'outbox.type_1' } as const;

const money = (cents: number) => Math.round(cents) / 100;

/** The event an outbox entry stands for, from the order as it is now (nothing it reads changes after the status change). */
export function toOrderEvent(order: Order, entry: OutboxEntry): OrderEvent {
  const orderId = order._id.toHexString();
  return {
    eventId: orderEventId(orderId, entry.type),
    type: entry.type,
    schemaVersion: ORDER_EVENT_SCHEMA_VERSION,
    orderId,
    userId: order.userId,
    total: order.totalCents === null ? null : money(order.totalCents),
    lines: order.lines.map((line) => ({
      productId: line.productId,
      quantity: line.quantity,
      ...(line.unitPriceCents === undefined ? {} : { unitPrice: money(line.unitPriceCents) }),
    })),
    occurredAt: new Date(entry.occurredAt).toISOString(),
  };
}

/**
 * The outbox relay: publishes the events waiting in orders' outboxes, oldest order first and each
 * order's events in the order they happened, one at a time; removes an event from its outbox once the
 * broker confirmed it. A failed publish ends the pass (nothing later overtakes it) and the next passes
 * back off. A crash between the confirm and the removal publishes the event again: the consumer is
 * idempotent by `eventId`. Each publish runs in the trace context saved with the event, so its PRODUCER
 * span (amqplib instrumentation) belongs to the trace of the request that changed the order.
 */
@Injectable()
export class OrderEventsRelay implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('OrderEvents');
  private timer?: NodeJS.Timeout;
  private running = false;
  private stopped = false;
  private failures = 0;
  private nextPassAt = 0;
  private timerAt = 0;
  /** An order was written since the last pass began. */
  private written = true;
  /** The last pass left events it could not publish (yet). */
  private leftBehind = false;
  private readonly stopListening: () => void;
  /** The async context the instance was made in (start-up), in which the timer is armed. */
  private readonly background = new AsyncResource('OrderEventsRelay');

  constructor(
    @InjectRepository(Order) private readonly orders: MongoRepository<Order>,
    @Optional() @Inject(ORDER_EVENTS_CLIENT) private readonly client: OrderEventsClient | null,
    private readonly metrics: OutboxMetrics,
    activity: OrderActivity,
  ) {
    this.stopListening = activity.onWrite(() => {
      this.written = true;
      this.schedule(this.activeEveryMs);
    });
  }

  /** The `outbox.type` index (TypeORM's decorators cannot name a field of an array's elements). */
  async onModuleInit(): Promise<void> {
    await collectionOf(this.orders).createIndex(OUTBOX_TYPE_INDEX.key, { name: OUTBOX_TYPE_INDEX.name });
  }

  private get activeEveryMs(): number {
    return this.client ? PASS_EVERY_MS : COUNT_ONLY_EVERY_MS;
  }

  onApplicationBootstrap(): void {
    if (!this.client)
      this.logger.warn(
        'events off (AMQP_URL not set): order events wait in the outbox until a broker is configured',
      );
    this.schedule(this.activeEveryMs);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    this.stopListening();
    clearTimeout(this.timer);
    await this.client?.close();
  }

  /** The next pass in `delayMs`, unless one is due sooner already. */
  private schedule(delayMs: number): void {
    const at = Date.now() + delayMs;
    if (this.stopped || (this.timer && this.timerAt <= at)) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    // Armed in the context of start-up, not of the request whose write asked for it (see CompensationService).
    this.timer = this.background.runInAsyncScope(() =>
      setTimeout(() => {
        this.timer = undefined;
        void this.pass().finally(() => {
          const active = this.written || (this.client !== null && this.leftBehind);
          this.schedule(active ? this.activeEveryMs : SAFETY_PASS_EVERY_MS);
        });
      }, delayMs),
    );
    this.timer.unref();
  }

  /**
   * One pass (none while another runs; only the count while backing off or without a broker): one read
   * of the oldest orders with pending events, their events published, the gauge set. Answers how many
   * events it published.
   */
  async pass(): Promise<number> {
    if (this.running || this.stopped) return 0;
    this.running = true;
    this.written = false;
    let sent = 0;
    try {
      let pending: number;
      if (!this.client || Date.now() < this.nextPassAt) {
        // Nothing to publish: the count alone (the read below sorts every order with an event waiting,
        // which without a broker is every order).
        pending = await this.countPending();
        this.leftBehind = pending > 0;
        return 0;
      }
      const orders = await this.orders.find({ where: PENDING, order: { _id: 'ASC' }, take: BATCH });
      sent = await this.publishPending(this.client, orders);
      // A full batch may not be all of them: then they are counted (a second read).
      if (orders.length < BATCH) {
        pending = orders.reduce((n, order) => n + (order.outbox?.length ?? 0), 0) - sent;
        this.metrics.pending.set(pending);
      } else pending = await this.countPending();
      this.leftBehind = pending > 0;
    } catch (error) {
      this.leftBehind = true;
      this.logger.error(`outbox pass failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      this.running = false;
    }
    return sent;
  }

  /**
   * Publishes the events of `orders` one at a time, then removes the confirmed ones from their outboxes:
   * one update per event type for the whole pass (a crash before it publishes them again: the consumer
   * dedupes), also when a failed publish ended the pass.
   */
  private async publishPending(client: OrderEventsClient, orders: Order[]): Promise<number> {
    const confirmed = new Map<OrderEventType, ObjectId[]>();
    let sent = 0;
    try {
      for (const order of orders) {
        for (const entry of order.outbox ?? []) {
          if (this.stopped) return sent;
          const event = toOrderEvent(order, entry);
          try {
            await this.publish(client, event, entry);
          } catch (error) {
            this.failures++;
            const wait = Math.min(MAX_BACKOFF_MS, BACKOFF_MS * 2 ** (this.failures - 1));
            this.nextPassAt = Date.now() + wait;
            const message = `publish of ${event.type} ${event.eventId} failed, retrying in ${wait} ms: ${error instanceof Error ? error.message : String(error)}`;
            if (this.failures === 1 || this.failures % 10 === 0) this.logger.warn(message);
            return sent;
          }
          if (this.failures > 0)
            this.logger.log(`broker back after ${this.failures} failed publishes: sending the outbox`);
          this.failures = 0;
          confirmed.set(entry.type, [...(confirmed.get(entry.type) ?? []), order._id]);
          this.metrics.published.inc({ type: event.type });
          sent++;
        }
      }
      return sent;
    } finally {
      for (const [type, ids] of confirmed)
        await this.orders.updateMany({ _id: { $in: ids } }, pullFromOutbox(type));
    }
  }

  private publish(client: OrderEventsClient, event: OrderEvent, entry: OutboxEntry): Promise<unknown> {
    const options = {
      messageId: event.eventId,
      type: event.type,
      contentType: 'application/json',
      persistent: true,
      timestamp: Math.floor(Date.parse(event.occurredAt) / 1000),
      appId: 'order',
      // Read by amqp-connection-manager's ChannelWrapper (not sent): a message still unsent or unconfirmed
      // then is dropped from its queue and rejected, rather than sent later behind the events after it.
      timeout: CONFIRM_TIMEOUT_MS,
    };
    const record = new RmqRecordBuilder(event).setOptions(options).build();
    const parent = propagation.extract(ROOT_CONTEXT, entry.trace ?? {});
    return context.with(parent, () =>
      lastValueFrom(client.emit(event.type, record).pipe(timeout(CONFIRM_TIMEOUT_MS + 1000)), {
        defaultValue: undefined,
      }),
    );
  }

  /**
   * The events waiting: an order holds at most one of each type (each is pushed by the one update that
   * leaves the status it tells of), so they are the orders with each type, counted in the `outbox.type`
   * index (the embedded store reads a count of one indexed value off the index, without looking at an
   * order, as MongoDB counts index keys). An aggregate that summed `$size: '$outbox'` looked at every order
   * with an event waiting, which without a broker is every order: 62 ms of the store's CPU at 5,000
   * orders, during which every other operation waited.
   */
  private async countPending(): Promise<number> {
    const orders = collectionOf(this.orders);
    let n = 0;
    // `count`, not `countDocuments`: the latter is an aggregate ($match, $group) that reads each order.
    for (const type of ORDER_EVENT_TYPES) n += await orders.count({ 'outbox.type': type });
    this.metrics.pending.set(n);
    return n;
  }
}
