import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { MongoRepository } from 'typeorm';
import { Order } from './order.entity.js';
import { OrdersService } from './orders.service.js';

const SWEEP_EVERY_MS = 2000;
/** An order still PENDING after this long lost its request (a crash, a dropped connection). */
const ABANDONED_AFTER_MS = 30_000;

/**
 * Finishes what a failed saga left behind: releases stock for rejected orders whose release was not
 * confirmed, and rejects orders stuck in PENDING (releasing whatever they may have reserved).
 */
@Injectable()
export class CompensationService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Compensation');
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    @InjectRepository(Order) private readonly orders: MongoRepository<Order>,
    private readonly ordersService: OrdersService,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /** One pass; returns how many releases were confirmed. */
  async sweep(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      const abandoned = await this.orders.updateMany(
        { status: 'PENDING', createdAt: { $lt: new Date(Date.now() - ABANDONED_AFTER_MS) } },
        { $set: { status: 'REJECTED', reason: 'abandoned', releasePending: true, updatedAt: new Date() } },
      );
      if (abandoned.modifiedCount > 0) this.logger.warn(`${abandoned.modifiedCount} abandoned pending orders rejected`);
      const pending = await this.orders.find({ where: { releasePending: true }, take: 50 });
      let released = 0;
      for (const order of pending) if (await this.ordersService.releaseQuietly(order._id)) released++;
      if (released > 0) this.logger.log(`released the stock of ${released} rejected orders`);
      return released;
    } catch (error) {
      this.logger.error(`compensation sweep failed: ${error instanceof Error ? error.message : String(error)}`);
      return 0;
    } finally {
      this.running = false;
    }
  }
}
