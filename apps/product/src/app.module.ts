import { Module } from '@nestjs/common';
import { ConfigModule } from '#lab/config';
import { DatabaseModule } from '#lab/database';
import { HealthModule } from '#lab/health';
import { PRODUCT_ENTITIES } from './entities.js';
import { ProductsModule } from './products/products.module.js';
import { StockModule } from './stock/stock.module.js';

@Module({
  imports: [
    ConfigModule.forService('product'),
    DatabaseModule.forRoot(PRODUCT_ENTITIES),
    HealthModule.forRoot({ database: true }),
    ProductsModule,
    StockModule,
  ],
})
export class AppModule {}
