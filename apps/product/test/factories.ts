import { HttpException } from '@nestjs/common';
import { LabError } from '#lab/errors';
import type { MongoRepository } from 'typeorm';
import type { Product } from '../src/products/product.entity.js';

let made = 0;

/** Inserts a product (unique name unless given) and answers it as stored. */
export async function insertProduct(
  products: MongoRepository<Product>,
  fields: Partial<Omit<Product, '_id'>> = {},
): Promise<Product> {
  made++;
  const now = new Date();
  const document = {
    name: `Test product ${made}`,
    description: '',
    priceCents: 1000,
    stock: 10,
    createdAt: now,
    updatedAt: now,
    ...fields,
  };
  const { insertedId } = await products.insertOne({ ...document });
  return products.create({ _id: insertedId, ...document });
}

export async function stockOf(
  products: MongoRepository<Product>,
  product: Product,
): Promise<number | undefined> {
  return (await products.findOneBy({ _id: product._id }))?.stock;
}

/** The status and body (`{message, code, …details}`) of the error a call rejects with. */
export async function rejectionOf(
  call: Promise<unknown>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  try {
    await call;
  } catch (error) {
    if (error instanceof LabError) return { status: error.status, body: error.toRecord() };
    if (error instanceof HttpException)
      return { status: error.getStatus(), body: error.getResponse() as Record<string, unknown> };
    throw error;
  }
  throw new Error('expected the call to fail with an HTTP exception');
}
