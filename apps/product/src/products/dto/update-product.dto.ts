import { Transform } from 'class-transformer';
import { IsInt, IsNumber, IsString, Length, Max, MaxLength, Min } from 'class-validator';
import { IfPresent, MAX_PRICE, MAX_STOCK, trimmed } from './create-product.dto.js';

/** Any subset of the fields, at least one (checked by the service). `stock` sets the count available. */
export class UpdateProductDto {
  @IfPresent()
  @Transform(trimmed)
  @IsString()
  @Length(1, 200)
  name?: string;

  @IfPresent()
  @Transform(trimmed)
  @IsString()
  @MaxLength(2000)
  description?: string;

  @IfPresent()
  @IsNumber({ maxDecimalPlaces: 2, allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(MAX_PRICE)
  price?: number;

  @IfPresent()
  @IsInt()
  @Min(0)
  @Max(MAX_STOCK)
  stock?: number;
}
