import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsISO31661Alpha2, IsObject, IsString, Length, ValidateIf, ValidateNested } from 'class-validator';

/** Like `@IsOptional()`, except that `null` is validated (and refused) rather than let through. */
const IfPresent = () => ValidateIf((_object: object, value: unknown) => value !== undefined);

export class AddressDto {
  @ApiProperty({ minLength: 1, maxLength: 200 })
  @IsString()
  @Length(1, 200)
  line1!: string;

  @ApiPropertyOptional({ minLength: 1, maxLength: 200 })
  @IfPresent()
  @IsString()
  @Length(1, 200)
  line2?: string;

  @ApiProperty({ minLength: 1, maxLength: 100 })
  @IsString()
  @Length(1, 100)
  city!: string;

  @ApiProperty({ minLength: 1, maxLength: 20 })
  @IsString()
  @Length(1, 20)
  postalCode!: string;

  /** ISO 3166-1 alpha-2, e.g. DE. */
  @ApiProperty({ example: 'DE', pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2.' })
  @IsISO31661Alpha2()
  country!: string;
}

/** Either field or both; `null`, and an array where the address object belongs, are refused. */
export class UpdateCustomerDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 100 })
  @IfPresent()
  @IsString()
  @Length(1, 100)
  name?: string;

  @ApiPropertyOptional({ type: AddressDto })
  @IfPresent()
  // IsObject refuses arrays: ValidateNested alone would validate each element of `[{…}]`.
  @IsObject()
  @ValidateNested()
  @Type(() => AddressDto)
  address?: AddressDto;
}
