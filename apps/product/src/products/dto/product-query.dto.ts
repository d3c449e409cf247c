import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Length } from 'class-validator';
import { PageQueryDto } from '#lab/database';

export class ProductQueryDto extends PageQueryDto {
  /** Case-insensitive substring of the name or the description, matched literally. */
  @ApiPropertyOptional({
    minLength: 1,
    maxLength: 100,
    description: 'Case-insensitive substring of the name or the description.',
  })
  @IsOptional()
  @IsString()
  @Length(1, 100)
  q?: string;
}
