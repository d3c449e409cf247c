import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

export class PageQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 10_000, default: 1 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(10_000)
  page = 1;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit = 20;
}

/** A page of a listing, as every paginated endpoint answers it. */
export interface Page<T> {
  items: T[];
  page: number;
  limit: number;
  total: number;
}

export function toPage<T, R>(items: T[], total: number, query: PageQueryDto, map: (item: T) => R): Page<R> {
  return { items: items.map(map), page: query.page, limit: query.limit, total };
}

/** TypeORM `skip`/`take` for a page. */
export function pageWindow(query: PageQueryDto): { skip: number; take: number } {
  return { skip: (query.page - 1) * query.limit, take: query.limit };
}
