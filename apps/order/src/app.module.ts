import { Module } from '@nestjs/common';
import { ConfigModule } from '#lab/config';
import { DatabaseModule } from '#lab/database';
import { HealthModule } from '#lab/health';
import { OpenApiModule } from '#lab/openapi';
import { ObservabilityModule } from '#lab/observability';
import { IdempotencyRecord } from './orders/idempotency-record.entity.js';
import { Order } from './orders/order.entity.js';
import { OrderEventsModule } from './events/order-events.module.js';
import { OrdersModule } from './orders/orders.module.js';

@Module({
  imports: [
    ConfigModule.forService('order'),
    // Logs, traces, GET /metrics and /admin/faults.
    ObservabilityModule.forRoot(),
    DatabaseModule.forRoot([Order, IdempotencyRecord]),
    HealthModule.forRoot({ database: true }),
    OpenApiModule.forService({
      title: 'order',
      description: 'Orders: a saga over the customer and product services, with idempotency keys.',
    }),
    OrdersModule,
    OrderEventsModule,
  ],
})
export class AppModule {}
