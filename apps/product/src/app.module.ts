import { Module } from '@nestjs/common';
import { ConfigModule } from '#lab/config';
import { DatabaseModule } from '#lab/database';
import { HealthModule } from '#lab/health';
import { ObservabilityModule } from '#lab/observability';
import { OpenApiModule } from '#lab/openapi';
import { PRODUCT_ENTITIES } from './entities.js';
import { ProductsModule } from './products/products.module.js';
import { StockModule } from './stock/stock.module.js';

@Module({
  imports: [
    ConfigModule.forService('product'),
    // Logs, traces, GET /metrics and /admin/faults.
    ObservabilityModule.forRoot(),
    DatabaseModule.forRoot(PRODUCT_ENTITIES),
    HealthModule.forRoot({ database: true }),
    ProductsModule,
    StockModule,
    OpenApiModule.forService({
      title: 'product',
      description: 'The catalogue, and stock reservations for the order service (internal).',
    }),
  ],
})
export class AppModule {}
