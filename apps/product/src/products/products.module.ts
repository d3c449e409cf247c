import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthModule } from '#lab/auth';
import { Product } from './product.entity.js';
import { ProductSeeder } from './product-seeder.js';
import { ProductsController } from './products.controller.js';
import { ProductsService } from './products.service.js';
import { ProductMetrics } from './product.metrics.js';

@Module({
  imports: [TypeOrmModule.forFeature([Product]), AuthModule],
  controllers: [ProductsController],
  providers: [ProductsService, ProductMetrics, ProductSeeder],
})
export class ProductsModule {}
