import { BadRequestException } from '@nestjs/common';
import { LabValidationPipe } from '#lab/bootstrap';
import { describe, expect, it } from 'vitest';
import { CreateProductDto } from './create-product.dto.js';
import { UpdateProductDto } from './update-product.dto.js';

// The pipe every service runs with.
const pipe = new LabValidationPipe();

/** The validation messages for a JSON body, or [] when it is accepted. */
async function errorsOf(metatype: new () => object, json: string): Promise<string[]> {
  try {
    await pipe.transform(JSON.parse(json), { type: 'body', metatype });
    return [];
  } catch (error) {
    if (!(error instanceof BadRequestException)) throw error;
    return (error.getResponse() as { message: string[] }).message;
  }
}

// Numeric edges as they arrive in JSON: exponent notation, out of range (1e309 parses as Infinity),
// negative zero, numbers as strings, NaN and Infinity as strings, null, objects and arrays.
const NUMERIC_EDGES = [
  '1e-7',
  '1e308',
  '1e309',
  '-1e309',
  '-0',
  '"1"',
  '"NaN"',
  '"Infinity"',
  'null',
  '{}',
  '[1]',
  'true',
];

describe(CreateProductDto.name, () => {
  const body = (price: string, stock: string) => `{"name":"x","price":${price},"stock":${stock}}`;

  it('accepts prices with up to two decimals and whole stock counts', async () => {
    for (const price of ['0', '0.01', '0.29', '19.99', '1e2', '1000000'])
      expect(await errorsOf(CreateProductDto, body(price, '1')), price).toEqual([]);
    for (const stock of ['0', '1', '1000000'])
      expect(await errorsOf(CreateProductDto, body('1', stock)), stock).toEqual([]);
  });

  it('refuses every numeric edge of price and stock with one message naming the field', async () => {
    for (const edge of [...NUMERIC_EDGES, '0.001', '1.999', '-0.01', '1000000.01']) {
      expect(await errorsOf(CreateProductDto, body(edge, '1')), `price ${edge}`).toEqual([
        'price must be a number from 0 to 1000000 with at most two decimals',
      ]);
    }
    for (const edge of [...NUMERIC_EDGES, '1.5', '-1', '1000001']) {
      expect(await errorsOf(CreateProductDto, body('1', edge)), `stock ${edge}`).toEqual([
        'stock must be an integer from 0 to 1000000',
      ]);
    }
  });
});

describe(UpdateProductDto.name, () => {
  it('takes a stock change as stockDelta, positive or negative', async () => {
    for (const delta of ['-3', '10', '-1000000', '1000000'])
      expect(await errorsOf(UpdateProductDto, `{"stockDelta":${delta}}`), delta).toEqual([]);
    for (const edge of [...NUMERIC_EDGES, '1.5', '1000001', '-1000001']) {
      expect(await errorsOf(UpdateProductDto, `{"stockDelta":${edge}}`), edge).toEqual([
        'stockDelta must be an integer from -1000000 to 1000000',
      ]);
    }
  });

  it('refuses an absolute stock, saying what to send instead', async () => {
    for (const stock of ['3', 'null', '"3"']) {
      expect(await errorsOf(UpdateProductDto, `{"stock":${stock}}`)).toEqual([
        'stock cannot be overwritten: send stockDelta, the change to apply (e.g. -3 or 10)',
      ]);
    }
  });

  it('refuses null and numeric edges for price and the text fields', async () => {
    expect(await errorsOf(UpdateProductDto, '{"price":1e-7}')).toHaveLength(1);
    expect(await errorsOf(UpdateProductDto, '{"price":-0}')).toHaveLength(1);
    expect(await errorsOf(UpdateProductDto, '{"price":null}')).toHaveLength(1);
    expect(await errorsOf(UpdateProductDto, '{"name":null}')).not.toEqual([]);
    expect(await errorsOf(UpdateProductDto, '{"name":["a"]}')).not.toEqual([]);
    expect(await errorsOf(UpdateProductDto, '{"description":{"$gt":""}}')).not.toEqual([]);
  });
});
