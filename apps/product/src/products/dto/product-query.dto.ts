import { IsOptional, IsString, Length } from 'class-validator';
import { PageQueryDto } from '#lab/database';

export class ProductQueryDto extends PageQueryDto {
  /** Case-insensitive substring of the name or the description, matched literally. */
  @IsOptional()
  @IsString()
  @Length(1, 100)
  q?: string;
}
