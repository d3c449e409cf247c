import { ClientRMQ, type RmqOptions } from '@nestjs/microservices';
import type { Channel } from 'amqplib';
import { declareOrderEventsTopology, ORDER_EVENTS_EXCHANGE } from '#lab/events';

/**
 * `ClientRMQ` publishing to the `lab.orders` topic exchange with the event type as routing key, that
 * declares the whole topology (queues, dead letters) on every channel it opens, so no event is
 * published before the consumer's queue exists.
 *
 * Publisher confirms: `ClientRMQ` publishes through amqp-connection-manager's `ChannelWrapper`, whose
 * channel is a confirm channel by default; its publish promise, which `emit()` waits for, settles when
 * the broker acks (or nacks) the message. Messages are persistent (`persistent: true`).
 */
export class OrderEventsClient extends ClientRMQ {
  constructor(url: string) {
    const options: RmqOptions['options'] = {
      urls: [url],
      exchange: ORDER_EVENTS_EXCHANGE,
      exchangeType: 'topic',
      wildcards: true,
      persistent: true,
      socketOptions: { heartbeatIntervalInSeconds: 5, reconnectTimeInSeconds: 1 },
    };
    super(options);
  }

  override async setupChannel(channel: Channel, resolve: () => void): Promise<void> {
    await declareOrderEventsTopology(channel);
    return super.setupChannel(channel, resolve);
  }
}
