import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { Equals, IsString, Length, MaxLength } from 'class-validator';
import { IfPresent, MAX_PRICE, MAX_STOCK, trimmed } from './create-product.dto.js';
import { IsPrice, IsWholeNumber } from './numeric.validators.js';

/**
 * Any subset of the fields, at least one (checked by the service). Stock is never overwritten: an
 * absolute count would undo the reservations made between the admin's read and this write, so the
 * change is sent as `stockDelta` and applied atomically.
 */
export class UpdateProductDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 200 })
  @IfPresent()
  @Transform(trimmed)
  @IsString()
  @Length(1, 200)
  name?: string;

  @ApiPropertyOptional({ maxLength: 2000 })
  @IfPresent()
  @Transform(trimmed)
  @IsString()
  @MaxLength(2000)
  description?: string;

  @ApiPropertyOptional({ minimum: 0, maximum: MAX_PRICE, multipleOf: 0.01 })
  @IfPresent()
  @IsPrice(MAX_PRICE)
  price?: number;

  /** Units to add (positive) or remove (negative); the stock never goes below 0 or above the maximum. */
  @ApiPropertyOptional({
    type: 'integer',
    minimum: -MAX_STOCK,
    maximum: MAX_STOCK,
    description:
      'Units to add (positive) or remove (negative), applied atomically; stock is never overwritten.',
  })
  @IfPresent()
  @IsWholeNumber(-MAX_STOCK, MAX_STOCK)
  stockDelta?: number;

  /** Refused with a message that says what to send instead. */
  @IfPresent()
  @Equals(undefined, {
    message: 'stock cannot be overwritten: send stockDelta, the change to apply (e.g. -3 or 10)',
  })
  stock?: never;
}
