import { ApiProperty } from '@nestjs/swagger';
import { fromCents } from './money.js';
import type { Product } from './product.entity.js';

export class ProductResponse {
  @ApiProperty({ example: '65f0c0ffee0000000000abcd' })
  id!: string;

  @ApiProperty({ example: 'Espresso cup' })
  name!: string;

  @ApiProperty({ description: 'Empty when none was given.' })
  description!: string;

  /** Decimal amount with at most two decimals (the stored integer cents / 100). */
  @ApiProperty({ example: 12.5, minimum: 0, description: 'Decimal amount, at most two decimals.' })
  price!: number;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    description: 'Units in stock, reserved ones already taken out.',
  })
  stock!: number;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt!: string;
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
