import { BadRequestException, Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { objectIdFrom, pageWindow } from '#lab/database';
import { LabError } from '#lab/errors';
import { ObjectId } from 'mongodb';
import { Span, TraceService } from 'nestjs-otel';
import type { MongoRepository } from 'typeorm';
import { type CreateProductDto, MAX_STOCK } from './dto/create-product.dto.js';
import type { ProductQueryDto } from './dto/product-query.dto.js';
import type { UpdateProductDto } from './dto/update-product.dto.js';
import { toCents } from './money.js';
import { ProductMetrics } from './product.metrics.js';
import { Product } from './product.entity.js';

/** The text as a regular expression that matches only itself. */
export function literalPattern(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export const productNotFound = (id: string) =>
  new LabError('unknown_product', `product ${id} not found`, { details: { productId: id } });

@Injectable()
export class ProductsService {
  private readonly logger = new Logger(ProductsService.name);

  constructor(
    @InjectRepository(Product) private readonly products: MongoRepository<Product>,
    private readonly metrics: ProductMetrics,
    private readonly traces: TraceService,
  ) {}

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
    const _id = objectIdFrom(id);
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

  /**
   * Sets the fields given; `stockDelta` is added to the stock in the same atomic update, only if the
   * result stays within [0, MAX_STOCK] (else 409 `stock_out_of_range`, nothing changed), so it never
   * undoes a reservation made meanwhile.
   */
  async update(id: string, changes: UpdateProductDto): Promise<Product> {
    const set: Partial<Product> = {};
    if (changes.name !== undefined) set.name = changes.name;
    if (changes.description !== undefined) set.description = changes.description;
    if (changes.price !== undefined) set.priceCents = toCents(changes.price);
    const delta = changes.stockDelta;
    if (Object.keys(set).length === 0 && delta === undefined)
      throw new BadRequestException('give at least one of name, description, price, stockDelta');
    const _id = objectIdFrom(id);
    if (!_id) throw productNotFound(id);
    if (delta === undefined) {
      const updated = await this.products.findOneAndUpdate(
        { _id },
        { $set: { ...set, updatedAt: new Date() } },
        { returnDocument: 'after' },
      );
      if (!updated) throw productNotFound(id);
      this.logger.log(`product ${id} updated (${Object.keys(set).join(', ')})`);
      return this.products.create(updated as Product);
    }
    return this.adjust(_id, id, set, delta);
  }

  /** In a `stock.adjust` span; counted in `stock_adjustments_total{result}`. */
  @Span('stock.adjust', (_id: ObjectId, id: string, _set: Partial<Product>, delta: number) => ({
    attributes: { 'product.id': id, 'stock.delta': delta },
  }))
  private async adjust(_id: ObjectId, id: string, set: Partial<Product>, delta: number): Promise<Product> {
    const span = this.traces.getSpan();
    const updated = await this.products.findOneAndUpdate(
      { _id, stock: delta < 0 ? { $gte: -delta } : { $lte: MAX_STOCK - delta } },
      { $set: { ...set, updatedAt: new Date() }, $inc: { stock: delta } },
      { returnDocument: 'after' },
    );
    if (!updated) {
      const current = await this.products.findOneBy({ _id });
      if (!current) throw productNotFound(id);
      this.metrics.adjustments.inc({ result: 'out_of_range' });
      span?.setAttribute('stock.available', current.stock);
      this.logger.warn(`stock adjustment of product ${id} by ${delta} refused: ${current.stock} in stock`);
      throw new LabError(
        'stock_out_of_range',
        `product ${id} has ${current.stock} in stock: a change of ${delta} would take it ${delta < 0 ? 'below 0' : `above ${MAX_STOCK}`}; nothing was changed`,
        { details: { productId: id, available: current.stock } },
      );
    }
    const product = this.products.create(updated as Product);
    this.metrics.adjustments.inc({ result: 'adjusted' });
    span?.setAttribute('stock.after', product.stock);
    const fields = Object.keys(set);
    this.logger.log(
      `product ${id} stock adjusted by ${delta} to ${product.stock}${fields.length > 0 ? ` (also ${fields.join(', ')})` : ''}`,
    );
    return product;
  }

  async remove(id: string): Promise<void> {
    const _id = objectIdFrom(id);
    const { deletedCount } = _id ? await this.products.deleteOne({ _id }) : { deletedCount: 0 };
    if (deletedCount !== 1) throw productNotFound(id);
    this.logger.log(`product ${id} deleted`);
  }
}
