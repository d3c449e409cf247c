import type { Provider } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ConfigModule, loadConfig } from '#lab/config';
import { DatabaseModule } from '#lab/database';
import { ServiceClient } from '#lab/http-client';
import { TelemetryModule } from '#lab/telemetry';
import { CompensationService } from '../src/orders/compensation.service.js';
import { IdempotencyRecord } from '../src/orders/idempotency-record.entity.js';
import { IdempotencyService } from '../src/orders/idempotency.service.js';
import { Order } from '../src/orders/order.entity.js';
import { OrderActivity } from '../src/orders/order-activity.js';
import { OrderMetrics } from '../src/orders/order.metrics.js';
import { OrdersService } from '../src/orders/orders.service.js';
import { StockClient } from '../src/orders/stock.client.js';
import type { CustomerServiceStandIn, ProductStockStandIn } from './stand-ins.js';

const ENTITIES = [Order, IdempotencyRecord];

/**
 * The order saga on an in-memory embedded store, with the product and customer services stood in for
 * in-process. The compensation sweep's timer is stopped: specs run `sweep()` themselves.
 */
export async function orderTestingModule(
  stock: ProductStockStandIn,
  customers: CustomerServiceStandIn,
): Promise<TestingModule> {
  const providers: Provider[] = [
    OrdersService,
    IdempotencyService,
    CompensationService,
    OrderMetrics,
    OrderActivity,
    { provide: StockClient, useValue: stock },
    { provide: ServiceClient, useValue: customers },
  ];
  const moduleRef = await Test.createTestingModule({
    imports: [
      ConfigModule.forConfig(loadConfig('order', {})),
      DatabaseModule.forRoot(ENTITIES),
      TypeOrmModule.forFeature(ENTITIES),
      TelemetryModule,
    ],
    providers,
  }).compile();
  await moduleRef.init();
  moduleRef.get(CompensationService).onModuleDestroy();
  return moduleRef;
}
