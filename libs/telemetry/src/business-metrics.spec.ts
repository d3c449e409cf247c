import { register } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  authFailuresTotal,
  BusinessCounter,
  ordersTotal,
  stockReservationsTotal,
  tokensIssuedTotal,
} from './business-metrics.js';

const valuesOf = async (name: string) =>
  Object.fromEntries(
    ((await register.getSingleMetric(name)?.get())?.values ?? []).map((v) => [
      Object.values(v.labels).join(),
      v.value,
    ]),
  );

describe(BusinessCounter.name, () => {
  it('registers on the default registry only when first used, with every known value at 0', async () => {
    expect(register.getSingleMetric('tokens_issued_total')).toBeUndefined();
    tokensIssuedTotal.inc('password');
    tokensIssuedTotal.inc('password');
    expect(await valuesOf('tokens_issued_total')).toEqual({
      password: 2,
      client_credentials: 0,
      refresh_token: 0,
    });
  });

  it('can be registered ahead of the first event, once however often it is asked', async () => {
    expect(authFailuresTotal.init()).toBe(authFailuresTotal.init());
    expect(Object.keys(await valuesOf('auth_failures_total'))).toEqual([
      'missing_token',
      'invalid_token',
      'expired',
      'insufficient_scope',
      'invalid_grant',
      'invalid_client',
      'throttled',
    ]);
  });

  it('reuses a counter another copy of the library registered under the same name', async () => {
    stockReservationsTotal.inc('reserved', 3);
    const twin = new BusinessCounter('stock_reservations_total', 'twin', 'result', ['reserved']);
    twin.inc('reserved');
    expect((await valuesOf('stock_reservations_total')).reserved).toBe(4);
  });

  it('names the series as the dashboards expect', () => {
    expect(
      [ordersTotal, stockReservationsTotal, tokensIssuedTotal, authFailuresTotal].map(
        (c) => `${c.name}{${c.label}}`,
      ),
    ).toEqual([
      'orders_total{outcome}',
      'stock_reservations_total{result}',
      'tokens_issued_total{grant}',
      'auth_failures_total{reason}',
    ]);
  });
});
