import { ApiProperty } from '@nestjs/swagger';
import { FastPath } from '#lab/bootstrap';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsInt,
  IsMongoId,
  IsObject,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';

export class OrderLineDto {
  @ApiProperty({ pattern: '^[0-9a-fA-F]{24}$' })
  @IsMongoId()
  productId!: string;

  @ApiProperty({ type: 'integer', minimum: 1, maximum: 1000 })
  @IsInt()
  @Min(1)
  @Max(1000)
  quantity!: number;
}

const PRODUCT_ID = /^[0-9a-fA-F]{24}$/;

/** `{productId, quantity}` and nothing else, each as its validators below accept it. */
function isWellFormedLine(line: unknown): boolean {
  if (typeof line !== 'object' || line === null || Array.isArray(line)) return false;
  const { productId, quantity } = line as Record<string, unknown>;
  return (
    Object.keys(line).length === 2 &&
    typeof productId === 'string' &&
    PRODUCT_ID.test(productId) &&
    typeof quantity === 'number' &&
    Number.isInteger(quantity) &&
    quantity >= 1 &&
    quantity <= 1000
  );
}

/** The body of nearly every order, accepted without class-validator (see FastPath). */
export function isWellFormedOrder(body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const { lines } = body as Record<string, unknown>;
  return (
    Object.keys(body).length === 1 &&
    Array.isArray(lines) &&
    lines.length >= 1 &&
    lines.length <= 50 &&
    lines.every(isWellFormedLine)
  );
}

@FastPath(isWellFormedOrder)
export class CreateOrderDto {
  @ApiProperty({ type: [OrderLineDto], minItems: 1, maxItems: 50, description: 'Each product at most once.' })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(50)
  // Each line an object: ValidateNested alone would also accept (and validate through) nested arrays.
  @IsObject({ each: true })
  @ValidateNested({ each: true })
  @Type(() => OrderLineDto)
  lines!: OrderLineDto[];
}
