import { LabValidationPipe } from '#lab/bootstrap';
import { validationErrors } from '#lab/testing';
import { describe, expect, it } from 'vitest';
import { CreateOrderDto, isWellFormedOrder } from './create-order.dto.js';

// The pipe every service runs with.
const pipe = new LabValidationPipe();
const PRODUCT = '0123456789abcdef01234567';

const errorsOf = (json: string) => validationErrors(pipe, CreateOrderDto, JSON.parse(json));

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

  it('takes the fast path only for bodies that validation accepts unchanged, and for the common ones', async () => {
    const line = (productId: unknown, quantity: unknown) => ({ productId, quantity });
    const accepted = [
      { lines: [line(PRODUCT, 1)] },
      { lines: [line(PRODUCT.toUpperCase(), 1000)] },
      { lines: [{ quantity: 2, productId: PRODUCT }] },
      {
        lines: Array.from({ length: 50 }, (_, i) =>
          line(`${PRODUCT.slice(0, 22)}${String(i).padStart(2, '0')}`, 3),
        ),
      },
    ];
    const refused = [
      { lines: Array.from({ length: 51 }, () => line(PRODUCT, 1)) },
      { lines: [] },
      { lines: [line(PRODUCT, 1)], extra: 1 },
      { lines: [{ ...line(PRODUCT, 1), name: 'x' }] },
      { lines: [line(`0x${PRODUCT.slice(2)}`, 1)] },
      { lines: [line(PRODUCT.slice(1), 1)] },
      { lines: [line(`${PRODUCT}0`, 1)] },
      { lines: [line(`${PRODUCT.slice(1)}g`, 1)] },
      { lines: [line(1, 1)] },
      { lines: [{ productId: PRODUCT }] },
      { lines: [line(PRODUCT, undefined)] },
      { lines: [line(PRODUCT, 0)] },
      { lines: [line(PRODUCT, -0)] },
      { lines: [line(PRODUCT, 1.5)] },
      { lines: [line(PRODUCT, 1001)] },
      { lines: [line(PRODUCT, '1')] },
      { lines: [line(PRODUCT, Number.NaN)] },
      { lines: [line(PRODUCT, Number.POSITIVE_INFINITY)] },
      { lines: [[line(PRODUCT, 1)]] },
      { lines: [null] },
      { lines: {} },
      { lines: null },
      {},
      [],
      null,
      'lines',
    ];
    for (const body of accepted) {
      expect(isWellFormedOrder(body)).toBe(true);
      expect(await pipe.transformFully(body, { type: 'body', metatype: CreateOrderDto })).toEqual(body);
    }
    for (const body of refused) expect(isWellFormedOrder(body), JSON.stringify(body)).toBe(false);
  });
});
