import { BadRequestException, Injectable, Logger, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { pageWindow } from '#lab/database';
import { ObjectId } from 'mongodb';
import type { MongoRepository } from 'typeorm';
import type { CreateProductDto } from './dto/create-product.dto.js';
import type { ProductQueryDto } from './dto/product-query.dto.js';
import type { UpdateProductDto } from './dto/update-product.dto.js';
import { toCents } from './money.js';
import { Product } from './product.entity.js';

/** The text as a regular expression that matches only itself. */
export function literalPattern(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A product id as stored, or undefined for anything that cannot be one (answered as 404). */
export function productObjectId(id: string): ObjectId | undefined {
  return /^[0-9a-fA-F]{24}$/.test(id) ? new ObjectId(id) : undefined;
}

export const productNotFound = (id: string) =>
  new NotFoundException({ message: `product ${id} not found`, code: 'unknown_product', productId: id });

@Injectable()
export class ProductsService {
  private readonly logger = new Logger(ProductsService.name);

  constructor(@InjectRepository(Product) private readonly products: MongoRepository<Product>) {}

  async list(query: ProductQueryDto): Promise<{ items: Product[]; total: number }> {
    // Only strings reach the filter, and as an escaped pattern: never an operator from the request.
    const pattern = query.q === undefined ? undefined : { $regex: literalPattern(query.q), $options: 'i' };
    const where = pattern ? { $or: [{ name: pattern }, { description: pattern }] } : {};
    const [items, total] = await this.products.findAndCount({
      where,
      order: { name: 'ASC', _id: 'ASC' },
      ...pageWindow(query),
    });
    return { items, total };
  }

  async findById(id: string): Promise<Product> {
    const _id = productObjectId(id);
    const product = _id ? await this.products.findOneBy({ _id }) : null;
    if (!product) throw productNotFound(id);
    return product;
  }

  async create(input: CreateProductDto): Promise<Product> {
    const now = new Date();
    const fields = {
      name: input.name,
      description: input.description ?? '',
      priceCents: toCents(input.price),
      stock: input.stock,
      createdAt: now,
      updatedAt: now,
    };
    // insertOne, not save: the document gets exactly these fields (no `seedKey: null` in the sparse index).
    const { insertedId } = await this.products.insertOne({ ...fields });
    const product = this.products.create({ _id: insertedId, ...fields });
    this.logger.log(`product ${insertedId.toHexString()} created`);
    return product;
  }

  async update(id: string, changes: UpdateProductDto): Promise<Product> {
    const set: Partial<Product> = {};
    if (changes.name !== undefined) set.name = changes.name;
    if (changes.description !== undefined) set.description = changes.description;
    if (changes.price !== undefined) set.priceCents = toCents(changes.price);
    if (changes.stock !== undefined) set.stock = changes.stock;
    if (Object.keys(set).length === 0)
      throw new BadRequestException('give at least one of name, description, price, stock');
    const _id = productObjectId(id);
    const updated = _id
      ? await this.products.findOneAndUpdate(
          { _id },
          { $set: { ...set, updatedAt: new Date() } },
          { returnDocument: 'after' },
        )
      : null;
    if (!updated) throw productNotFound(id);
    this.logger.log(`product ${id} updated (${Object.keys(set).join(', ')})`);
    return this.products.create(updated as Product);
  }

  async remove(id: string): Promise<void> {
    const _id = productObjectId(id);
    const { deletedCount } = _id ? await this.products.deleteOne({ _id }) : { deletedCount: 0 };
    if (deletedCount !== 1) throw productNotFound(id);
    this.logger.log(`product ${id} deleted`);
  }
}
