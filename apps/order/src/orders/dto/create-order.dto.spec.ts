import { BadRequestException, ValidationPipe } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { CreateOrderDto } from './create-order.dto.js';

// The pipe every service runs with (libs/bootstrap).
const pipe = new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true });
const PRODUCT = '0123456789abcdef01234567';

async function errorsOf(json: string): Promise<string[]> {
  try {
    await pipe.transform(JSON.parse(json), { type: 'body', metatype: CreateOrderDto });
    return [];
  } catch (error) {
    if (!(error instanceof BadRequestException)) throw error;
    return (error.getResponse() as { message: string[] }).message;
  }
}

describe(CreateOrderDto.name, () => {
  it('accepts 1 to 50 lines of a product id and a whole quantity from 1 to 1000', async () => {
    expect(await errorsOf(`{"lines":[{"productId":"${PRODUCT}","quantity":1}]}`)).toEqual([]);
    expect(await errorsOf(`{"lines":[{"productId":"${PRODUCT}","quantity":1000}]}`)).toEqual([]);
  });

  it('refuses every numeric edge of a quantity', async () => {
    for (const quantity of [
      '0',
      '-0',
      '1e-7',
      '1.5',
      '1e308',
      '1e309',
      '-1e309',
      '"1"',
      '"NaN"',
      '"Infinity"',
      'null',
      '[1]',
      '{}',
      '1001',
    ]) {
      const errors = await errorsOf(`{"lines":[{"productId":"${PRODUCT}","quantity":${quantity}}]}`);
      expect(errors.length, quantity).toBeGreaterThan(0);
      expect(
        errors.every((error) => error.startsWith('lines.0.quantity')),
        quantity,
      ).toBe(true);
    }
  });

  it('refuses lines that are not objects, nested arrays included', async () => {
    for (const lines of [
      `[[{"productId":"${PRODUCT}","quantity":1}]]`,
      '[null]',
      '["x"]',
      '[1]',
      'null',
      '{}',
      '[]',
    ]) {
      expect(await errorsOf(`{"lines":${lines}}`), lines).not.toEqual([]);
    }
  });
});
