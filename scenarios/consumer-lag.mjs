// OrderEventsConsumerLag: the broker hangs for 45 s while orders go on; their events arrive late.
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * How long the broker is away, in real seconds whatever the time scale: the alert's threshold (30 s of
 * lag) is not scaled, so the events must really wait longer than that.
 */
const AWAY_SECONDS = 45;

export default {
  name: 'consumer-lag',
  title: 'Order events processed late',
  summary:
    "The broker hangs for 45 s while orders go on: their events wait in the order service's outbox, nothing is lost, and when it is back they are all processed at once, late; the learner sees a lag alert fire after the outage, not during it, and finds where the time went.",
  // Its orders need order and product working (and product unblocked: each order calls it twice).
  touches: ['rabbitmq', 'order', 'product'],
  requires: ['rabbitmq'],
  traffic: [
    {
      name: 'order',
      method: 'POST',
      path: '/api/orders',
      perSecond: 2,
      auth: 'user',
      body: ({ productId }) => ({ lines: [{ productId, quantity: 1 }] }),
      headers: ({ seq }) => ({ 'idempotency-key': `consumer-lag-${Date.now()}-${seq}` }),
    },
  ],
  steadyState: {
    quiet: ['OrderEventsConsumerLag'],
    queries: [
      {
        expr: 'histogram_quantile(0.95, sum by (le) (rate(events_consume_lag_seconds_bucket{service="customer"}[5m])))',
        below: 30,
      },
    ],
  },
  inject: {
    async run(ctx) {
      await ctx.pause('rabbitmq');
      ctx.log(`rabbitmq paused: order events wait in the outbox for ${AWAY_SECONDS} s`);
      try {
        await sleep(AWAY_SECONDS * 1000, undefined, { signal: ctx.signal });
      } catch {
        // Ctrl-C: resumed below, and by the undo
      }
      await ctx.resume('rabbitmq');
      ctx.log('rabbitmq resumed: the events that waited go out and are processed');
    },
    async undo(ctx) {
      // The run resumed it already; again in case it was interrupted (SIGCONT of a running process is harmless).
      await ctx.resume('rabbitmq');
    },
  },
  alert: { name: 'OrderEventsConsumerLag', labels: { service: 'customer' }, within: '3m' },
  runbook: [
    {
      expr: 'histogram_quantile(0.95, sum by (service, le) (rate(events_consume_lag_seconds_bucket[5m])))',
      culprit: { service: 'customer' },
    },
  ],
  symptom: false,
  recovery: { within: '7m' },
  docs: {
    inject: `\`docker compose pause rabbitmq\`, wait 45 seconds, \`docker compose unpause rabbitmq\` (without Docker:
\`kill -STOP\`, then \`kill -CONT\`, of the broker's \`beam.smp\` process; \`npm run scenario -- consumer-lag\`
does it), with orders going on (\`npm run traffic\`). The 45 s are real time in any case: the alert's
threshold, 30 s of lag, is not scaled with Prometheus' interval.`,
    sees: `Nothing: orders are placed and answered as before, because no request waits for the broker. Their
events wait in the order documents' outbox; when the broker is back the relay publishes them in order and
the customer service's consumer works through them in a second or two: nothing was lost, the profiles'
order summaries are right, only late.`,
    alerts: `\`OrderEventsConsumerLag\` (customer) about a minute after the broker is back: the lag is measured when an
event is processed, so it cannot fire while nothing is processed; the late events then stay in its
5-minute window, and it resolves when they leave it, about 5 minutes later. (Longer outages also fire
\`MonitoringTargetDown\` for the broker's jobs, then \`OutboxBacklog\`.)`,
    find: `- Grafana → _Events_: _Events waiting in the outbox_ climbs during the freeze and drops at once;
  _Lag_ shows a spike whose exemplars open the late events' traces.
- Jaeger → such a trace: the order's spans, then, 30–45 s later in the same trace, its \`publish lab.orders\`
  PRODUCER span and customer's \`customer.order-events process\` CONSUMER span right after it: the time
  went by before the publish (the outbox), not in the queue or the consumer.
- Kibana → \`service : "order" and context : "OrderEvents"\`: the relay's publishes that got no confirm during
  the freeze and the moment they went out; \`service : "customer"\`: one \`processed\` line per event,
  all within a second.`,
    undo: `Nothing to undo once the broker runs again (\`docker compose unpause rabbitmq\`). The alert resolves once
the late events have left the 5-minute window.`,
  },
};
