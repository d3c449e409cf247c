import { Injectable } from '@nestjs/common';
import type { Counter, Gauge } from 'prom-client';
import { ORDER_EVENT_TYPES } from '#lab/events';
import { Metrics } from '#lab/telemetry';

/** The outbox relay's metrics. */
@Injectable()
export class OutboxMetrics {
  /** Order events the broker confirmed, by type. */
  readonly published: Counter<'type'>;
  /** Events written with their order's status change and not yet confirmed by the broker. */
  readonly pending: Gauge;

  constructor(metrics: Metrics) {
    this.published = metrics.counter({
      name: 'events_published_total',
      help: 'Order events published and confirmed by the broker, by type.',
      labelNames: ['type'],
      known: { type: ORDER_EVENT_TYPES },
    });
    this.pending = metrics.gauge({
      name: 'outbox_pending_events',
      help: 'Order events waiting in the outbox (not yet confirmed by the broker).',
    });
  }
}
