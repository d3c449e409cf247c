import { Injectable } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { Metrics } from '#lab/telemetry';

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

export const JWKS_FETCH_OUTCOMES = ['ok', 'failed', 'cooldown'] as const;

/** Token verification and sign-in metrics, every known label value at 0 from the start. */
@Injectable()
export class AuthMetrics {
  /** Rejected authentications by reason (oauth grants; gateway and backends verifying tokens). */
  readonly failures: Counter<'reason'>;
  /** Fetches of oauth's JWKS by outcome. */
  readonly jwksFetches: Counter<'outcome'>;

  constructor(metrics: Metrics) {
    this.failures = metrics.counter({
      name: 'auth_failures_total',
      help: 'Rejected authentications and authorisations by reason.',
      labelNames: ['reason'],
      known: { reason: AUTH_FAILURE_REASONS },
    });
    this.jwksFetches = metrics.counter({
      name: 'jwks_fetches_total',
      help: "Fetches of the oauth service's JWKS by outcome (ok, failed), and fetches not made because one was made less than JWKS_COOLDOWN_MS ago (cooldown).",
      labelNames: ['outcome'],
      known: { outcome: JWKS_FETCH_OUTCOMES },
    });
  }
}
