import { IsEmail, IsString, Length, MaxLength } from 'class-validator';

/** Internal: sent by the oauth service when a user signs up. */
export class CreateCustomerDto {
  @IsString()
  @Length(1, 64)
  userId!: string;

  @IsEmail()
  @MaxLength(254)
  email!: string;

  @IsString()
  @Length(1, 100)
  name!: string;
}
