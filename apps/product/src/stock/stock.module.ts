import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthModule } from '#lab/auth';
import { Product } from '../products/product.entity.js';
import { StockController } from './stock.controller.js';
import { StockReservation } from './stock-reservation.entity.js';
import { StockService } from './stock.service.js';
import { StockMetrics } from './stock.metrics.js';

@Module({
  imports: [TypeOrmModule.forFeature([Product, StockReservation]), AuthModule],
  controllers: [StockController],
  providers: [StockService, StockMetrics],
})
export class StockModule {}
