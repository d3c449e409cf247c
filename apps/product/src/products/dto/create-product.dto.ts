import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsString, Length, MaxLength, ValidateIf } from 'class-validator';
import { IsPrice, IsWholeNumber } from './numeric.validators.js';

export const trimmed = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

/** Like `@IsOptional()`, except that `null` is validated (and refused) rather than let through. */
export const IfPresent = () => ValidateIf((_object: object, value: unknown) => value !== undefined);

export const MAX_PRICE = 1_000_000;
export const MAX_STOCK = 1_000_000;

export class CreateProductDto {
  @ApiProperty({ minLength: 1, maxLength: 200 })
  @Transform(trimmed)
  @IsString()
  @Length(1, 200)
  name!: string;

  @ApiPropertyOptional({ maxLength: 2000 })
  @IfPresent()
  @Transform(trimmed)
  @IsString()
  @MaxLength(2000)
  description?: string;

  /** Decimal amount; stored as integer cents. */
  @ApiProperty({ minimum: 0, maximum: MAX_PRICE, multipleOf: 0.01, example: 12.5 })
  @IsPrice(MAX_PRICE)
  price!: number;

  @ApiProperty({ type: 'integer', minimum: 0, maximum: MAX_STOCK })
  @IsWholeNumber(0, MAX_STOCK)
  stock!: number;
}
