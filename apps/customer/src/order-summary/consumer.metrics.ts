import { Injectable } from '@nestjs/common';
import type { Counter, Histogram } from 'prom-client';
import { ORDER_EVENT_TYPES } from '#lab/events';
import { Metrics } from '#lab/telemetry';

export const CONSUME_OUTCOMES = ['processed', 'duplicate', 'retried', 'dead_lettered'] as const;
export type ConsumeOutcome = (typeof CONSUME_OUTCOMES)[number];
/** The `type` label of a message that could not be read as an order event. */
export const UNKNOWN_TYPE = 'unknown';

/** Seconds from occurredAt to processing: outbox wait, broker queue, retries (an outage is minutes). */
const LAG_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

/** The order-events consumer's metrics. */
@Injectable()
export class ConsumerMetrics {
  /** What the consumer did with each delivery. */
  readonly consumed: Counter<'type' | 'outcome'>;
  /** occurredAt → processed, with an exemplar of the consumer's span. */
  readonly lag: Histogram<'type'>;

  constructor(metrics: Metrics) {
    this.consumed = metrics.counter({
      name: 'events_consumed_total',
      help: 'Order event deliveries by type and outcome (processed, duplicate, retried, dead_lettered).',
      labelNames: ['type', 'outcome'],
      known: { type: [...ORDER_EVENT_TYPES, UNKNOWN_TYPE], outcome: CONSUME_OUTCOMES },
    });
    this.lag = metrics.durationHistogram({
      name: 'events_consume_lag_seconds',
      help: 'Time from an order event happening (occurredAt) to the consumer processing it.',
      labelNames: ['type'],
      buckets: LAG_BUCKETS,
    });
    for (const type of ORDER_EVENT_TYPES) this.lag.zero({ type });
  }
}
