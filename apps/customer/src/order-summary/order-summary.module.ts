import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Customer } from '../customers/customer.entity.js';
import { ConsumerMetrics } from './consumer.metrics.js';
import { OrderEventsController } from './order-events.controller.js';
import { OrderSummaryService } from './order-summary.service.js';

/** The order summary on each profile, kept by the order-events consumer (connected in main.ts). */
@Module({
  imports: [TypeOrmModule.forFeature([Customer])],
  controllers: [OrderEventsController],
  providers: [OrderSummaryService, ConsumerMetrics],
})
export class OrderSummaryModule {}
