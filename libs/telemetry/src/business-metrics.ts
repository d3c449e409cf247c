import type { Counter } from 'prom-client';
import { Metrics } from './metrics.js';

/**
 * A counter with one label whose values are fixed here, so cardinality stays bounded. Registered on the
 * default registry when first used; every value starts at 0 then.
 */
export class BusinessCounter<V extends string> {
  private counter: Counter<string> | undefined;

  constructor(
    readonly name: string,
    private readonly help: string,
    readonly label: string,
    readonly values: readonly V[],
  ) {}

  inc(value: V, by = 1): void {
    this.init().inc({ [this.label]: value }, by);
  }

  /**
   * Registers the counter now (optional): called at start-up by the service that owns it, every series
   * exists at 0 before the first event, so `increase()` also counts that first one.
   */
  init(): Counter<string> {
    this.counter ??= new Metrics().counter({
      name: this.name,
      help: this.help,
      labelNames: [this.label],
      known: { [this.label]: this.values },
    });
    return this.counter;
  }
}

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

export const STOCK_RESERVATION_RESULTS = [
  'reserved',
  'out_of_stock',
  'unknown_product',
  'replayed',
  'rejected',
  'released',
] as const;
export type StockReservationResult = (typeof STOCK_RESERVATION_RESULTS)[number];

export const STOCK_ADJUSTMENT_RESULTS = ['adjusted', 'out_of_range'] as const;
export type StockAdjustmentResult = (typeof STOCK_ADJUSTMENT_RESULTS)[number];

export const ORDER_CANCELLATION_RESULTS = ['cancelled', 'already_cancelled', 'deferred', 'not_cancellable'] as const;
export type OrderCancellationResult = (typeof ORDER_CANCELLATION_RESULTS)[number];

export const ORDER_COMPENSATION_ACTIONS = [
  'abandoned',
  'released',
  'cancel_completed',
  'key_settled',
  'key_freed',
] as const;
export type OrderCompensationAction = (typeof ORDER_COMPENSATION_ACTIONS)[number];

export const TOKEN_GRANTS = ['password', 'client_credentials', 'refresh_token'] as const;
export type TokenGrant = (typeof TOKEN_GRANTS)[number];

export const AUTH_FAILURE_REASONS = [
  'missing_token',
  'invalid_token',
  'expired',
  'insufficient_scope',
  'invalid_grant',
  'invalid_client',
  'throttled',
] as const;
export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];

/** Order placements by outcome (order service, `POST /orders`). */
export const ordersTotal = new BusinessCounter<OrderOutcome>(
  'orders_total',
  'Order placements by outcome.',
  'outcome',
  ORDER_OUTCOMES,
);

/** Stock operations by result (product service: reservations and releases). */
export const stockReservationsTotal = new BusinessCounter<StockReservationResult>(
  'stock_reservations_total',
  'Stock reservations and releases by result.',
  'result',
  STOCK_RESERVATION_RESULTS,
);

/** Admin stock changes by result (product service, `PATCH /products/:id` with `stockDelta`). */
export const stockAdjustmentsTotal = new BusinessCounter<StockAdjustmentResult>(
  'stock_adjustments_total',
  'Stock adjustments by result.',
  'result',
  STOCK_ADJUSTMENT_RESULTS,
);

/** Cancel requests by result (order service; `deferred`: the stock release failed, the sweep finishes it). */
export const orderCancellationsTotal = new BusinessCounter<OrderCancellationResult>(
  'order_cancellations_total',
  'Order cancel requests by result.',
  'result',
  ORDER_CANCELLATION_RESULTS,
);

/** What the order service's compensation sweep finished, by action. */
export const orderCompensationsTotal = new BusinessCounter<OrderCompensationAction>(
  'order_compensations_total',
  'Saga steps finished by the compensation sweep, by action.',
  'action',
  ORDER_COMPENSATION_ACTIONS,
);

/** Access tokens issued by grant type (oauth service). */
export const tokensIssuedTotal = new BusinessCounter<TokenGrant>(
  'tokens_issued_total',
  'Access tokens issued by grant type.',
  'grant',
  TOKEN_GRANTS,
);

/** Rejected authentications by reason (oauth grants; gateway and backends verifying tokens). */
export const authFailuresTotal = new BusinessCounter<AuthFailureReason>(
  'auth_failures_total',
  'Rejected authentications and authorisations by reason.',
  'reason',
  AUTH_FAILURE_REASONS,
);
