import type { Provider } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ConfigModule, type Env, loadConfig } from '#lab/config';
import { DatabaseModule } from '#lab/database';
import { TelemetryModule } from '#lab/telemetry';
import { PRODUCT_ENTITIES } from '../src/entities.js';
import { ProductMetrics } from '../src/products/product.metrics.js';
import { StockMetrics } from '../src/stock/stock.metrics.js';

/**
 * A testing module with the product entities on a database: an in-memory embedded store started for
 * it, or the one `env.MONGO_URL` names (to put two "instances" on one database).
 */
export async function databaseTestingModule(providers: Provider[], env: Env = {}): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ConfigModule.forConfig(loadConfig('product', env)),
      DatabaseModule.forRoot(PRODUCT_ENTITIES),
      TypeOrmModule.forFeature(PRODUCT_ENTITIES),
      TelemetryModule,
    ],
    providers: [...providers, StockMetrics, ProductMetrics],
  }).compile();
  await moduleRef.init();
  return moduleRef;
}
