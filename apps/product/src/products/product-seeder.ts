import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { isDuplicateKeyError } from '#lab/database';
import type { MongoRepository } from 'typeorm';
import { DEMO_CATALOGUE } from './demo-catalogue.js';
import { Product } from './product.entity.js';

/**
 * Seeds the demo catalogue on start-up when the catalogue is empty. Two instances starting at once
 * may both see it empty; the unique `seedKey` lets each demo product in once.
 */
@Injectable()
export class ProductSeeder implements OnApplicationBootstrap {
  private readonly logger = new Logger(ProductSeeder.name);

  constructor(@InjectRepository(Product) private readonly products: MongoRepository<Product>) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.seed();
  }

  /** Answers how many products this call inserted. */
  async seed(): Promise<number> {
    if ((await this.products.count({})) > 0) return 0;
    let seeded = 0;
    const now = new Date();
    for (const demo of DEMO_CATALOGUE) {
      try {
        await this.products.insertOne({ ...demo, createdAt: now, updatedAt: now });
        seeded++;
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
      }
    }
    this.logger.log(`seeded ${seeded} demo products`);
    return seeded;
  }
}
