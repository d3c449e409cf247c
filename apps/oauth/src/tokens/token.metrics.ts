import { Injectable } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { Metrics } from '#lab/telemetry';

export const TOKEN_GRANTS = ['password', 'client_credentials', 'refresh_token'] as const;
export type TokenGrant = (typeof TOKEN_GRANTS)[number];

/** Access tokens issued by grant type, every grant at 0 from the start. */
@Injectable()
export class TokenMetrics {
  readonly issued: Counter<'grant'>;

  constructor(metrics: Metrics) {
    this.issued = metrics.counter({
      name: 'tokens_issued_total',
      help: 'Access tokens issued by grant type.',
      labelNames: ['grant'],
      known: { grant: TOKEN_GRANTS },
    });
  }
}
