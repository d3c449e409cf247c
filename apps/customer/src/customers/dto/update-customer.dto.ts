import { Type } from 'class-transformer';
import { IsISO31661Alpha2, IsOptional, IsString, Length, ValidateNested } from 'class-validator';

export class AddressDto {
  @IsString()
  @Length(1, 200)
  line1!: string;

  @IsOptional()
  @IsString()
  @Length(1, 200)
  line2?: string;

  @IsString()
  @Length(1, 100)
  city!: string;

  @IsString()
  @Length(1, 20)
  postalCode!: string;

  /** ISO 3166-1 alpha-2, e.g. DE. */
  @IsISO31661Alpha2()
  country!: string;
}

export class UpdateCustomerDto {
  @IsOptional()
  @IsString()
  @Length(1, 100)
  name?: string;

  @IsOptional()
  @ValidateNested()
  @Type(() => AddressDto)
  address?: AddressDto;
}
