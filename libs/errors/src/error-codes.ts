/**
 * Every code a service answers an error with, and its HTTP status: the one table the problem+json
 * filter (`#lab/bootstrap`) reads. Metric labels reuse the codes (`errorCode()`).
 */
export const ERROR_STATUS = {
  // The request itself
  invalid_request: 400,
  ambiguous_path: 400,
  idempotency_key_required: 400,
  invalid_fault: 400,
  unknown_service: 404,
  unknown_product: 404,
  unknown_reservation: 404,
  out_of_stock: 409,
  stock_out_of_range: 409,
  not_cancellable: 409,
  idempotency_in_progress: 409,
  reservation_in_progress: 409,
  reservation_released: 409,
  duplicate_product: 422,
  invalid_lines: 422,
  no_customer_profile: 422,
  idempotency_key_reused: 422,
  reservation_mismatch: 422,
  rate_limited: 429,
  /** nginx's code for a client that went away before the answer; only the logs read it. */
  client_closed_request: 499,
  // This service or one it depends on
  /** An error the fault switch injected (`/admin/faults` errorRatio). */
  injected_fault: 500,
  overloaded: 503,
  dependency_unavailable: 503,
  upstream_unavailable: 503,
  circuit_open: 503,
  upstream_timeout: 504,
} as const satisfies Readonly<Record<string, number>>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_STATUS, value);
}
