// OrderEventsDeadLettered: a message that is not an order event lands on the order events' exchange.
import { connectBroker } from './lib/local.mjs';

const EXCHANGE = 'lab.orders';
const DLQ = 'customer.order-events.dlq';

export default {
  name: 'poison-event',
  title: 'An unreadable order event',
  summary:
    'Something publishes a message that is not an order event to the order events exchange: the consumer dead-letters it at once, nothing else breaks, and the dead-letter queue holds it until someone looks.',
  touches: ['rabbitmq', 'customer'],
  requires: ['rabbitmq-queues'],
  traffic: [{ name: 'profile', method: 'GET', path: '/api/customers/me', perSecond: 1, auth: 'user' }],
  steadyState: {
    queries: [{ expr: `max(rabbitmq_detailed_queue_messages{queue="${DLQ}"})`, below: 1 }],
  },
  inject: {
    async run(ctx) {
      const connection = await connectBroker(ctx);
      try {
        const channel = await connection.createConfirmChannel();
        await channel.checkExchange(EXCHANGE);
        channel.publish(EXCHANGE, 'order.confirmed', Buffer.from('{"orderId": "42", "status": oops'), {
          contentType: 'application/json',
          persistent: true,
          messageId: `poison-${Date.now()}`,
          appId: `lab-scenario/${ctx.scenario}`,
        });
        await channel.waitForConfirms();
        ctx.log(`published one unreadable message to ${EXCHANGE} (routing key order.confirmed)`);
      } finally {
        await connection.close();
      }
    },
    async undo(ctx) {
      const connection = await connectBroker(ctx);
      try {
        const channel = await connection.createChannel();
        const { messageCount } = await channel.purgeQueue(DLQ);
        ctx.log(`purged ${messageCount} message(s) from ${DLQ}`);
      } finally {
        await connection.close();
      }
    },
  },
  alert: {
    name: 'OrderEventsDeadLettered',
    labels: { queue: 'customer.order-events.dlq' },
    within: '2m',
  },
  runbook: [
    {
      expr: 'max by (queue) (rabbitmq_detailed_queue_messages{queue=~".+\\\\.dlq"})',
      culprit: { queue: 'customer.order-events.dlq' },
    },
    {
      expr: 'sum by (type, outcome) (rate(events_consumed_total{outcome=~"retried|dead_lettered"}[5m]))',
      culprit: { type: 'unknown', outcome: 'dead_lettered' },
    },
  ],
  symptom: false,
  recovery: { within: '2m' },
  docs: {
    inject: `Publish something that is not an order event to the \`lab.orders\` exchange, e.g. in the management
UI (http://localhost:15672 → Exchanges → \`lab.orders\` → Publish message, routing key \`order.confirmed\`,
payload \`{"orderId": "42", "status": oops\`), or \`npm run scenario -- poison-event\`, which does the
same with amqplib (on the broker \`npm start\` runs, too).`,
    sees: `Nothing: orders, cancels and profiles work as before, and the other events keep flowing. The customer
service's consumer cannot read the message (not JSON), so it does not retry it: it rejects it at once and
RabbitMQ dead-letters it to \`customer.order-events.dlq\`, where it stays.`,
    alerts: `\`OrderEventsDeadLettered\` (queue \`customer.order-events.dlq\`, \`for: 1m\`) after 1–1.5 minutes, and it stays
firing until the queue is empty again: a dead letter does not go away by itself.`,
    find: `- RabbitMQ management UI → Queues → \`customer.order-events.dlq\` → Get messages: the body, the
  \`x-death\` header (from \`customer.order-events\`, reason \`rejected\`) and the \`app_id\` of whoever
  published it.
- Kibana → \`service : "customer" and message : "dead-lettered"\` (level error): the reason, and the
  trace id of the delivery.
- Jaeger → service \`customer\`, operation \`customer.order-events process\`: a short span in error with
  no order trace above it (nobody placed an order for it).
- Grafana → _Events_: _Consumed, by outcome_ shows one \`dead_lettered\` of type \`unknown\`.`,
    undo: `Nothing to fix in the lab: a producer was wrong. Once you have read the message, purge the queue
(management UI → \`customer.order-events.dlq\` → Purge; \`npm run scenario\` does it with amqplib). The
alert resolves at the next scrape of the queue's depth.`,
  },
};
