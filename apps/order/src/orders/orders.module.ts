import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthModule } from '#lab/auth';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import { HttpClientModule, ServiceClient } from '#lab/http-client';
import { CompensationService } from './compensation.service.js';
import { IdempotencyRecord } from './idempotency-record.entity.js';
import { IdempotencyService } from './idempotency.service.js';
import { OrderActivityModule } from './order-activity.js';
import { Order } from './order.entity.js';
import { OrderMetrics } from './order.metrics.js';
import { OrdersController } from './orders.controller.js';
import { OrdersService } from './orders.service.js';
import { StockClient } from './stock.client.js';
import { ServiceTokenProvider } from './service-token.provider.js';

@Module({
  imports: [
    TypeOrmModule.forFeature([Order, IdempotencyRecord]),
    AuthModule,
    HttpClientModule,
    OrderActivityModule,
  ],
  controllers: [OrdersController],
  providers: [
    OrdersService,
    OrderMetrics,
    IdempotencyService,
    StockClient,
    CompensationService,
    {
      provide: ServiceTokenProvider,
      inject: [ServiceClient, APP_CONFIG],
      useFactory: (http: ServiceClient, config: AppConfig) =>
        new ServiceTokenProvider(http, 'order-service', config.oauth.clientSecrets.order),
    },
  ],
})
export class OrdersModule {}
