import { Injectable } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { Metrics } from '#lab/telemetry';

export const STOCK_RESERVATION_RESULTS = [
  'reserved',
  'out_of_stock',
  'unknown_product',
  'replayed',
  'rejected',
  'released',
] as const;
export type StockReservationResult = (typeof STOCK_RESERVATION_RESULTS)[number];

/** Stock operations by result (reservations and releases), every result at 0 from the start. */
@Injectable()
export class StockMetrics {
  readonly reservations: Counter<'result'>;
  /** Stale holds the hold sweep settled: dropped (recorded), or put back (their request died). */
  readonly holdsSwept: Counter<'action'>;

  constructor(metrics: Metrics) {
    this.reservations = metrics.counter({
      name: 'stock_reservations_total',
      help: 'Stock reservations and releases by result.',
      labelNames: ['result'],
      known: { result: STOCK_RESERVATION_RESULTS },
    });
    this.holdsSwept = metrics.counter({
      name: 'stock_holds_swept_total',
      help: 'Stale stock holds settled by the hold sweep: dropped (their reservation recorded them) or put back (their request died).',
      labelNames: ['action'],
      known: { action: ['dropped', 'put_back'] },
    });
  }
}
