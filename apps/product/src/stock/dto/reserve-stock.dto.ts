import { ApiProperty } from '@nestjs/swagger';
import { FastPath } from '#lab/bootstrap';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsInt,
  IsMongoId,
  IsObject,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';

export const ORDER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The route's parameters as nearly every request has them, accepted without class-validator (see FastPath). */
export function isWellFormedReservationParams(params: unknown): boolean {
  if (typeof params !== 'object' || params === null) return false;
  const { orderId } = params as Record<string, unknown>;
  return Object.keys(params).length === 1 && typeof orderId === 'string' && ORDER_ID_PATTERN.test(orderId);
}

@FastPath(isWellFormedReservationParams)
export class ReservationParamsDto {
  @ApiProperty({ pattern: ORDER_ID_PATTERN.source })
  @Matches(ORDER_ID_PATTERN, { message: 'orderId must be 1-64 characters of A-Z, a-z, 0-9, _ and -' })
  orderId!: string;
}

export class ReservationLineDto {
  /** 24 hexadecimal digits. */
  @ApiProperty({ pattern: '^[0-9a-fA-F]{24}$' })
  @IsMongoId()
  productId!: string;

  @ApiProperty({ type: 'integer', minimum: 1, maximum: 1000 })
  @IsInt()
  @Min(1)
  @Max(1000)
  quantity!: number;
}

const productIdOf = (line: unknown): unknown => {
  const productId = (line as { productId?: unknown } | null)?.productId;
  return typeof productId === 'string' ? productId.toLowerCase() : line;
};

const PRODUCT_ID = /^[0-9a-fA-F]{24}$/;

/** `{productId, quantity}` and nothing else, each as its validators above accept it. */
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

/** The body of nearly every reservation, accepted without class-validator (see FastPath). */
export function isWellFormedReservation(body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const { lines } = body as Record<string, unknown>;
  return (
    Object.keys(body).length === 1 &&
    Array.isArray(lines) &&
    lines.length >= 1 &&
    lines.length <= 50 &&
    lines.every(isWellFormedLine) &&
    new Set(lines.map(productIdOf)).size === lines.length
  );
}

@FastPath(isWellFormedReservation)
export class ReserveStockDto {
  /** Each product at most once: a second line for the same product is refused, not merged. */
  @ApiProperty({
    type: [ReservationLineDto],
    minItems: 1,
    maxItems: 50,
    description: 'Each product at most once.',
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(50)
  @ArrayUnique(productIdOf, { message: 'lines must name each productId once' })
  // Each line an object: ValidateNested alone would also accept (and validate through) nested arrays.
  @IsObject({ each: true })
  @ValidateNested({ each: true })
  @Type(() => ReservationLineDto)
  lines!: ReservationLineDto[];
}
