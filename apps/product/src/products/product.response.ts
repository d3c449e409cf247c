import { fromCents } from './money.js';
import type { Product } from './product.entity.js';

export interface ProductResponse {
  id: string;
  name: string;
  description: string;
  /** Decimal amount with at most two decimals (the stored integer cents / 100). */
  price: number;
  stock: number;
  createdAt: string;
  updatedAt: string;
}

export function toProductResponse(product: Product): ProductResponse {
  return {
    id: product._id.toHexString(),
    name: product.name,
    description: product.description,
    price: fromCents(product.priceCents),
    stock: product.stock,
    createdAt: product.createdAt.toISOString(),
    updatedAt: product.updatedAt.toISOString(),
  };
}
