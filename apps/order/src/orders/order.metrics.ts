import { Injectable } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { Metrics } from '#lab/telemetry';

export const ORDER_OUTCOMES = [
  'confirmed',
  'out_of_stock',
  'unknown_product',
  'invalid',
  'dependency_unavailable',
  'replayed',
  'idempotency_conflict',
  'failed',
] as const;
export type OrderOutcome = (typeof ORDER_OUTCOMES)[number];

export const ORDER_CANCELLATION_RESULTS = [
  'cancelled',
  'already_cancelled',
  'deferred',
  'not_cancellable',
] as const;
export type OrderCancellationResult = (typeof ORDER_CANCELLATION_RESULTS)[number];

export const ORDER_COMPENSATION_ACTIONS = [
  'abandoned',
  'released',
  'cancel_completed',
  'key_settled',
  'key_freed',
] as const;
export type OrderCompensationAction = (typeof ORDER_COMPENSATION_ACTIONS)[number];

/** The order service's business metrics, every known label value at 0 from the start. */
@Injectable()
export class OrderMetrics {
  /** Order placements by outcome (`POST /orders`). */
  readonly orders: Counter<'outcome'>;
  /** Cancel requests by result (`deferred`: the stock release failed, the sweep finishes it). */
  readonly cancellations: Counter<'result'>;
  /** What the compensation sweep finished, by action. */
  readonly compensations: Counter<'action'>;

  constructor(metrics: Metrics) {
    this.orders = metrics.counter({
      name: 'orders_total',
      help: 'Order placements by outcome.',
      labelNames: ['outcome'],
      known: { outcome: ORDER_OUTCOMES },
    });
    this.cancellations = metrics.counter({
      name: 'order_cancellations_total',
      help: 'Order cancel requests by result.',
      labelNames: ['result'],
      known: { result: ORDER_CANCELLATION_RESULTS },
    });
    this.compensations = metrics.counter({
      name: 'order_compensations_total',
      help: 'Saga steps finished by the compensation sweep, by action.',
      labelNames: ['action'],
      known: { action: ORDER_COMPENSATION_ACTIONS },
    });
  }
}
