import type { Channel, Options } from 'amqplib';

/**
 * The RabbitMQ objects of the order events, declared by both sides (the producer before its first
 * publish, the consumer before it consumes), so neither depends on the other having started first and
 * no event is published to an exchange without its queue:
 *
 * - `lab.orders`, a durable topic exchange; routing key = event type (`order.confirmed`, …).
 * - `customer.order-events`, the customer service's durable queue, bound to `order.*`; a message it
 *   rejects (`nack`, no requeue) is dead-lettered to the DLQ.
 * - `customer.order-events.retry`: a message waits there for its per-message TTL (the retry delay),
 *   then is dead-lettered back to the queue.
 * - `customer.order-events.dlq`: messages given up on (unreadable, or out of retries), kept until an
 *   operator looks at them (alert `OrderEventsDeadLettered`).
 */
export const ORDER_EVENTS_EXCHANGE = 'lab.orders';
export const CUSTOMER_ORDER_EVENTS_QUEUE = 'customer.order-events';
export const CUSTOMER_ORDER_EVENTS_RETRY_QUEUE = `${CUSTOMER_ORDER_EVENTS_QUEUE}.retry`;
export const CUSTOMER_ORDER_EVENTS_DLQ = `${CUSTOMER_ORDER_EVENTS_QUEUE}.dlq`;
/** The header counting the retries a message has had (set by the consumer when it sends it to the retry queue). */
export const RETRY_COUNT_HEADER = 'x-lab-retries';

/** The queue's arguments: every side must declare it with exactly these (RabbitMQ refuses a mismatch). */
export const CUSTOMER_ORDER_EVENTS_QUEUE_OPTIONS: Options.AssertQueue = {
  durable: true,
  arguments: {
    'x-queue-type': 'classic',
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': CUSTOMER_ORDER_EVENTS_DLQ,
  },
};

/** Declares the exchange, the queues and the binding (idempotent; on every (re)connection of a channel). */
export async function declareOrderEventsTopology(
  channel: Pick<Channel, 'assertExchange' | 'assertQueue' | 'bindQueue'>,
): Promise<void> {
  await channel.assertExchange(ORDER_EVENTS_EXCHANGE, 'topic', { durable: true });
  await channel.assertQueue(CUSTOMER_ORDER_EVENTS_DLQ, {
    durable: true,
    arguments: { 'x-queue-type': 'classic' },
  });
  await channel.assertQueue(CUSTOMER_ORDER_EVENTS_RETRY_QUEUE, {
    durable: true,
    arguments: {
      'x-queue-type': 'classic',
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': CUSTOMER_ORDER_EVENTS_QUEUE,
    },
  });
  await channel.assertQueue(CUSTOMER_ORDER_EVENTS_QUEUE, CUSTOMER_ORDER_EVENTS_QUEUE_OPTIONS);
  await channel.bindQueue(CUSTOMER_ORDER_EVENTS_QUEUE, ORDER_EVENTS_EXCHANGE, 'order.*');
}
