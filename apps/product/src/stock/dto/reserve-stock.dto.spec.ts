import { BadRequestException } from '@nestjs/common';
import { LabValidationPipe } from '#lab/bootstrap';
import { validationErrors } from '#lab/testing';
import { describe, expect, it } from 'vitest';
import {
  isWellFormedReservation,
  isWellFormedReservationParams,
  ReservationParamsDto,
  ReserveStockDto,
} from './reserve-stock.dto.js';

// The pipe every service runs with.
const pipe = new LabValidationPipe();
const PRODUCT = '0123456789abcdef01234567';
const OTHER = '0123456789abcdef01234568';
const line = (productId: unknown, quantity: unknown) => ({ productId, quantity });

const errorsOf = (body: unknown) => validationErrors(pipe, ReserveStockDto, body);

describe(ReserveStockDto.name, () => {
  it('refuses a product twice, whatever the case of its id', async () => {
    expect(await errorsOf({ lines: [line(PRODUCT, 1), line(PRODUCT.toUpperCase(), 2)] })).toEqual([
      'lines must name each productId once',
    ]);
    expect(await errorsOf({ lines: [line(PRODUCT, 1), line(OTHER, 2)] })).toEqual([]);
  });

  it('takes the fast path only for bodies that validation accepts unchanged, and for the common ones', async () => {
    const accepted = [
      { lines: [line(PRODUCT, 1)] },
      { lines: [line(PRODUCT.toUpperCase(), 1000), line(OTHER, 2)] },
      { lines: [{ quantity: 2, productId: PRODUCT }] },
      {
        lines: Array.from({ length: 50 }, (_, i) =>
          line(`${PRODUCT.slice(0, 22)}${String(i).padStart(2, '0')}`, 3),
        ),
      },
    ];
    const refused = [
      { lines: [line(PRODUCT, 1), line(PRODUCT, 2)] },
      { lines: [line(PRODUCT, 1), line(PRODUCT.toUpperCase(), 2)] },
      {
        lines: Array.from({ length: 51 }, (_, i) =>
          line(`${PRODUCT.slice(0, 22)}${String(i).padStart(2, '0')}`, 1),
        ),
      },
      { lines: [] },
      { lines: [line(PRODUCT, 1)], extra: 1 },
      { lines: [{ ...line(PRODUCT, 1), name: 'x' }] },
      { lines: [line(`0x${PRODUCT.slice(2)}`, 1)] },
      { lines: [line(PRODUCT.slice(1), 1)] },
      { lines: [line(1, 1)] },
      { lines: [line(PRODUCT, 0)] },
      { lines: [line(PRODUCT, 1.5)] },
      { lines: [line(PRODUCT, 1001)] },
      { lines: [line(PRODUCT, '1')] },
      { lines: [[line(PRODUCT, 1)]] },
      { lines: [null] },
      { lines: null },
      {},
      null,
    ];
    for (const body of accepted) {
      expect(isWellFormedReservation(body)).toBe(true);
      expect(await pipe.transformFully(body, { type: 'body', metatype: ReserveStockDto })).toEqual(body);
    }
    for (const body of refused) expect(isWellFormedReservation(body), JSON.stringify(body)).toBe(false);
  });
});

describe(ReservationParamsDto.name, () => {
  it('takes the fast path only for order ids that validation accepts', async () => {
    const metadata = { type: 'param', metatype: ReservationParamsDto } as const;
    for (const orderId of ['65f0c0ffee0000000000abcd', 'a', 'A_b-9', 'x'.repeat(64)]) {
      const params = { orderId };
      expect(isWellFormedReservationParams(params)).toBe(true);
      expect(await pipe.transformFully(params, metadata)).toEqual(params);
    }
    for (const params of [
      { orderId: '' },
      { orderId: 'x'.repeat(65) },
      { orderId: 'a.b' },
      { orderId: 'a b' },
      { orderId: 1 },
      { orderId: 'a', extra: 'b' },
      {},
      null,
    ]) {
      expect(isWellFormedReservationParams(params), JSON.stringify(params)).toBe(false);
    }
    await expect(pipe.transform({ orderId: 'a.b' }, metadata)).rejects.toThrow(BadRequestException);
  });
});
