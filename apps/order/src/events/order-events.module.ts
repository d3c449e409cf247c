import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import { OrderActivityModule } from '../orders/order-activity.js';
import { Order } from '../orders/order.entity.js';
import { OrderEventsClient } from './order-events.client.js';
import { ORDER_EVENTS_CLIENT, OrderEventsRelay } from './order-events.relay.js';
import { OutboxMetrics } from './outbox.metrics.js';

/** The outbox relay and its RabbitMQ client (none without AMQP_URL: events then wait in the outbox). */
@Module({
  imports: [TypeOrmModule.forFeature([Order]), OrderActivityModule],
  providers: [
    {
      provide: ORDER_EVENTS_CLIENT,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        config.events.amqpUrl ? new OrderEventsClient(config.events.amqpUrl) : null,
    },
    OrderEventsRelay,
    OutboxMetrics,
  ],
})
export class OrderEventsModule {}
