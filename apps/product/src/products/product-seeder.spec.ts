import type { TestingModule } from '@nestjs/testing';
import { getRepositoryToken } from '@nestjs/typeorm';
import type { MongoRepository } from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { insertProduct } from '../../test/factories.js';
import { databaseTestingModule } from '../../test/testing-module.js';
import { DEMO_CATALOGUE } from './demo-catalogue.js';
import { Product } from './product.entity.js';
import { ProductSeeder } from './product-seeder.js';

describe(ProductSeeder.name, () => {
  let moduleRef: TestingModule;
  let seeder: ProductSeeder;
  let products: MongoRepository<Product>;

  beforeAll(async () => {
    // init() runs onApplicationBootstrap, which seeds once already.
    moduleRef = await databaseTestingModule([ProductSeeder]);
    seeder = moduleRef.get(ProductSeeder);
    products = moduleRef.get(getRepositoryToken(Product));
  });
  beforeEach(async () => {
    await products.deleteMany({});
  });
  afterAll(async () => {
    await moduleRef?.close();
  });

  it('seeds a dozen demo products into an empty catalogue, once', async () => {
    expect(DEMO_CATALOGUE.length).toBeGreaterThanOrEqual(12);
    expect(await seeder.seed()).toBe(DEMO_CATALOGUE.length);
    expect(await seeder.seed()).toBe(0);
    expect(await products.count({})).toBe(DEMO_CATALOGUE.length);
    const stored = await products.find({});
    for (const product of stored) {
      expect(Number.isInteger(product.priceCents) && product.priceCents > 0).toBe(true);
      expect(Number.isInteger(product.stock) && product.stock >= 0).toBe(true);
    }
  });

  it('inserts each demo product once when several instances seed at the same moment', async () => {
    const counts = await Promise.all([seeder.seed(), seeder.seed(), seeder.seed()]);

    expect(counts.reduce((sum, n) => sum + n, 0)).toBe(DEMO_CATALOGUE.length);
    expect(await products.count({})).toBe(DEMO_CATALOGUE.length);
  });

  it('leaves a catalogue that has products alone', async () => {
    await insertProduct(products, { name: 'Only one' });

    expect(await seeder.seed()).toBe(0);
    expect(await products.count({})).toBe(1);
  });
});
