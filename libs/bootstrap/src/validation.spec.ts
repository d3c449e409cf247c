import { validationErrors } from '#lab/testing';
import { IsInt, Min } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { FastPath, LabValidationPipe } from './validation.js';

const isSmallCount = (value: unknown) =>
  typeof value === 'object' &&
  value !== null &&
  Object.keys(value).length === 1 &&
  (value as { count?: unknown }).count === 1;

@FastPath(isSmallCount)
class CountDto {
  @IsInt()
  @Min(1)
  count!: number;
}

class PlainCountDto {
  @IsInt()
  @Min(1)
  count!: number;
}

const pipe = new LabValidationPipe();
const errorsOf = (metatype: new () => object, value: unknown) => validationErrors(pipe, metatype, value);

describe(LabValidationPipe.name, () => {
  it("passes a value its DTO's fast path accepts as it is, without making an instance of the DTO", async () => {
    const body = { count: 1 };
    const passed = await pipe.transform(body, { type: 'body', metatype: CountDto });
    expect(passed).toBe(body);
    expect(passed).not.toBeInstanceOf(CountDto);
  });

  it('validates and transforms anything else as the ValidationPipe does', async () => {
    expect(await pipe.transform({ count: 2 }, { type: 'body', metatype: CountDto })).toBeInstanceOf(CountDto);
    expect(await pipe.transform({ count: 1 }, { type: 'body', metatype: PlainCountDto })).toBeInstanceOf(
      PlainCountDto,
    );
    for (const value of [{ count: 0 }, { count: 1, extra: true }, { count: '1' }, {}]) {
      expect(await errorsOf(CountDto, value)).toEqual(await errorsOf(PlainCountDto, value));
      expect(await errorsOf(CountDto, value)).not.toEqual([]);
    }
    expect(await errorsOf(CountDto, { count: 1, extra: true })).toEqual(['property extra should not exist']);
  });

  it('validates without the fast path when asked to', async () => {
    expect(await pipe.transformFully({ count: 1 }, { type: 'body', metatype: CountDto })).toBeInstanceOf(
      CountDto,
    );
  });
});
