import { Injectable } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { Metrics } from '#lab/telemetry';

export const STOCK_ADJUSTMENT_RESULTS = ['adjusted', 'out_of_range'] as const;
export type StockAdjustmentResult = (typeof STOCK_ADJUSTMENT_RESULTS)[number];

/** Admin stock changes by result (`PATCH /products/:id` with `stockDelta`), every result at 0 from the start. */
@Injectable()
export class ProductMetrics {
  readonly adjustments: Counter<'result'>;

  constructor(metrics: Metrics) {
    this.adjustments = metrics.counter({
      name: 'stock_adjustments_total',
      help: 'Stock adjustments by result.',
      labelNames: ['result'],
      known: { result: STOCK_ADJUSTMENT_RESULTS },
    });
  }
}
