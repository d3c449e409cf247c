import { ApiProperty } from '@nestjs/swagger';
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
