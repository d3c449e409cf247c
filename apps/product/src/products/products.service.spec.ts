import type { TestingModule } from '@nestjs/testing';
import { getRepositoryToken } from '@nestjs/typeorm';
import type { MongoRepository } from 'typeorm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { insertProduct, rejectionOf, stockOf } from '../../test/factories.js';
import { databaseTestingModule } from '../../test/testing-module.js';
import { Product } from './product.entity.js';
import { toProductResponse } from './product.response.js';
import { StockService } from '../stock/stock.service.js';
import { MAX_STOCK } from './dto/create-product.dto.js';
import { ProductsService } from './products.service.js';

describe(ProductsService.name, () => {
  let moduleRef: TestingModule;
  let service: ProductsService;
  let products: MongoRepository<Product>;
  const page = (q?: string, pageNumber = 1, limit = 20) => service.list({ q, page: pageNumber, limit });
  const names = async (q?: string) => (await page(q)).items.map((product) => product.name);

  beforeAll(async () => {
    moduleRef = await databaseTestingModule([ProductsService, StockService]);
    service = moduleRef.get(ProductsService);
    products = moduleRef.get(getRepositoryToken(Product));
  });
  beforeEach(async () => {
    await products.deleteMany({});
  });
  afterAll(async () => {
    await moduleRef?.close();
  });

  it('lists by name, then by id among equal names, a page at a time with the total', async () => {
    const second = await insertProduct(products, { name: 'Kettle' });
    await insertProduct(products, { name: 'Mug' });
    await insertProduct(products, { name: 'Beans' });
    const first = await insertProduct(products, { name: 'Kettle' });
    const [earlier, later] = [first, second].sort((a, b) =>
      a._id.toHexString().localeCompare(b._id.toHexString()),
    );

    const firstPage = await page(undefined, 1, 2);
    const secondPage = await page(undefined, 2, 2);

    expect(firstPage.total).toBe(4);
    expect(firstPage.items.map((p) => [p.name, p._id.toHexString()])).toEqual([
      ['Beans', expect.any(String)],
      ['Kettle', earlier._id.toHexString()],
    ]);
    expect(secondPage.items.map((p) => [p.name, p._id.toHexString()])).toEqual([
      ['Kettle', later._id.toHexString()],
      ['Mug', expect.any(String)],
    ]);
  });

  it('filters on a case-insensitive substring of the name or the description', async () => {
    await insertProduct(products, { name: 'Ceramic Mug', description: 'Stoneware' });
    await insertProduct(products, {
      name: 'Travel Cup',
      description: 'Keeps coffee hot, fits any MUG holder',
    });
    await insertProduct(products, { name: 'Kettle', description: 'Gooseneck' });

    expect(await names('mug')).toEqual(['Ceramic Mug', 'Travel Cup']);
    expect(await names('GOOSE')).toEqual(['Kettle']);
    expect((await page('mug')).total).toBe(2);
  });

  it('matches regular expression metacharacters literally', async () => {
    await insertProduct(products, { name: 'C++ Primer (5th ed.)' });
    await insertProduct(products, { name: 'Cabbage' });

    expect(await names('.*')).toEqual([]);
    expect(await names('c++')).toEqual(['C++ Primer (5th ed.)']);
    expect(await names('(5th ed.)')).toEqual(['C++ Primer (5th ed.)']);
    expect(await names('^C')).toEqual([]);
    expect(await names('[a-z]')).toEqual([]);
  });

  it('stores the price as integer cents and answers it as a decimal amount', async () => {
    const created = await service.create({ name: 'Fountain Pen', price: 19.99, stock: 3 });

    const stored = await products.findOneBy({ _id: created._id });
    expect(stored).toMatchObject({ name: 'Fountain Pen', description: '', priceCents: 1999, stock: 3 });
    expect(stored).not.toHaveProperty('seedKey');
    expect(toProductResponse(created)).toEqual({
      id: created._id.toHexString(),
      name: 'Fountain Pen',
      description: '',
      price: 19.99,
      stock: 3,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
  });

  it('updates only the fields given, and refuses an update with none', async () => {
    const product = await insertProduct(products, {
      name: 'Lamp',
      description: 'Bright',
      priceCents: 4590,
      stock: 5,
    });

    const updated = await service.update(product._id.toHexString(), { price: 39.9, stockDelta: 2 });

    expect(updated).toMatchObject({ name: 'Lamp', description: 'Bright', priceCents: 3990, stock: 7 });
    expect(updated.updatedAt.getTime()).toBeGreaterThanOrEqual(product.updatedAt.getTime());
    expect(await stockOf(products, product)).toBe(7);
    expect(await rejectionOf(service.update(product._id.toHexString(), {}))).toMatchObject({ status: 400 });
  });

  it('answers 404 for unknown and malformed ids, on read, update and delete', async () => {
    const product = await insertProduct(products);
    await service.remove(product._id.toHexString());

    for (const id of [product._id.toHexString(), 'not-an-id', '{"$ne":null}']) {
      expect(await rejectionOf(service.findById(id))).toMatchObject({
        status: 404,
        body: { code: 'unknown_product' },
      });
      expect(await rejectionOf(service.update(id, { stockDelta: 1 }))).toMatchObject({ status: 404 });
      expect(await rejectionOf(service.update(id, { price: 1 }))).toMatchObject({ status: 404 });
      expect(await rejectionOf(service.remove(id))).toMatchObject({ status: 404 });
    }
  });
  it('adjusts the stock by stockDelta, refusing with 409 and changing nothing when it would leave [0, MAX_STOCK]', async () => {
    const product = await insertProduct(products, { name: 'Kettle', priceCents: 4999, stock: 5 });
    const id = product._id.toHexString();

    expect(await service.update(id, { stockDelta: -5 })).toMatchObject({ stock: 0 });
    expect(await rejectionOf(service.update(id, { stockDelta: -1, price: 1 }))).toMatchObject({
      status: 409,
      body: { code: 'stock_out_of_range', productId: id, available: 0 },
    });
    expect(await service.update(id, { stockDelta: MAX_STOCK })).toMatchObject({ stock: MAX_STOCK });
    expect(await rejectionOf(service.update(id, { stockDelta: 1 }))).toMatchObject({
      status: 409,
      body: { code: 'stock_out_of_range', available: MAX_STOCK },
    });
    expect(await products.findOneBy({ _id: product._id })).toMatchObject({
      stock: MAX_STOCK,
      priceCents: 4999,
    });
    expect(await service.update(id, { stockDelta: 3 - MAX_STOCK, name: 'Gooseneck Kettle' })).toMatchObject({
      stock: 3,
      name: 'Gooseneck Kettle',
    });
  });

  it('keeps every reservation made while an admin adjusts the stock (no lost update)', async () => {
    const stock = moduleRef.get(StockService);
    const product = await insertProduct(products, { stock: 100 });
    const id = product._id.toHexString();
    // 40 one-unit reservations interleaved with 10 restocks of +3 and 10 corrections of -1.
    const results = await Promise.allSettled([
      ...Array.from({ length: 40 }, (_, i) => stock.reserve(`race-${i}`, [{ productId: id, quantity: 1 }])),
      ...Array.from({ length: 10 }, () => service.update(id, { stockDelta: 3 })),
      ...Array.from({ length: 10 }, () => service.update(id, { stockDelta: -1 })),
    ]);

    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(await stockOf(products, product)).toBe(100 - 40 + 30 - 10);
  });
});
