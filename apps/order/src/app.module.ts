import { Module } from '@nestjs/common';
import { ConfigModule } from '#lab/config';
import { DatabaseModule } from '#lab/database';
import { HealthModule } from '#lab/health';
import { IdempotencyRecord } from './orders/idempotency-record.entity.js';
import { Order } from './orders/order.entity.js';
import { OrdersModule } from './orders/orders.module.js';

@Module({
  imports: [
    ConfigModule.forService('order'),
    DatabaseModule.forRoot([Order, IdempotencyRecord]),
    HealthModule.forRoot({ database: true }),
    OrdersModule,
  ],
})
export class AppModule {}
