import type { ConsumerDeserializer, IncomingEvent } from '@nestjs/microservices';
import { ServerRMQ } from '@nestjs/microservices';
import type { Channel } from 'amqplib';
import {
  CUSTOMER_ORDER_EVENTS_QUEUE,
  CUSTOMER_ORDER_EVENTS_QUEUE_OPTIONS,
  declareOrderEventsTopology,
  ORDER_EVENT_TYPES,
  UNREADABLE_EVENT,
} from '#lab/events';

/** Deliveries unacknowledged at once per consumer: enough to overlap database calls, few enough to stay fair. */
export const PREFETCH = 10;

/**
 * Any message that is not a Nest event packet of a known order event type becomes an `order.unreadable`
 * event, so the consumer counts it and dead-letters it (Nest would otherwise nack it without a trace).
 */
export class OrderEventsDeserializer implements ConsumerDeserializer {
  deserialize(value: unknown): IncomingEvent {
    if (typeof value === 'object' && value !== null && 'pattern' in value && 'data' in value) {
      const { pattern, data } = value;
      if (typeof pattern === 'string' && (ORDER_EVENT_TYPES as readonly string[]).includes(pattern))
        return { pattern, data };
    }
    return { pattern: UNREADABLE_EVENT, data: value };
  }
}

/**
 * The customer service's RabbitMQ transport: `ServerRMQ` on `customer.order-events`, manual acks, a
 * prefetch, and the topology (exchange, retry queue, dead-letter queue) declared on every channel it
 * opens, before it consumes.
 */
export class OrderEventsServer extends ServerRMQ {
  constructor(url: string) {
    super({
      urls: [url],
      queue: CUSTOMER_ORDER_EVENTS_QUEUE,
      queueOptions: CUSTOMER_ORDER_EVENTS_QUEUE_OPTIONS,
      noAssert: true,
      noAck: false,
      prefetchCount: PREFETCH,
      deserializer: new OrderEventsDeserializer(),
      socketOptions: { heartbeatIntervalInSeconds: 5, reconnectTimeInSeconds: 1 },
    });
  }

  override async setupChannel(channel: Channel, callback: () => void): Promise<void> {
    await declareOrderEventsTopology(channel);
    return super.setupChannel(channel, callback);
  }
}
