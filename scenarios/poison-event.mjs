// OrderEventsDeadLettered: a message that is not an order event lands on the order events' exchange.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import amqp from 'amqplib';

const EXCHANGE = 'lab.orders';
const DLQ = 'customer.order-events.dlq';
const ROOT = join(import.meta.dirname, '..');

/** LISTEN ports on this machine by socket inode (Linux). */
function listeningPorts() {
  const ports = new Map();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length >= 10 && fields[3] === '0A')
        ports.set(fields[9], parseInt(fields[1].split(':')[1], 16));
    }
  }
  return ports;
}

/** The other ports the process listening on `port` listens on (the broker's AMQP port beside its metrics port). */
function siblingPorts(port) {
  const ports = listeningPorts();
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let mine;
    try {
      mine = readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
        try {
          const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
          return link.startsWith('socket:[') && ports.has(link.slice(8, -1))
            ? [ports.get(link.slice(8, -1))]
            : [];
        } catch {
          return [];
        }
      });
    } catch {
      continue;
    }
    if (mine.includes(port)) return mine.filter((other) => other !== port);
  }
  return [];
}

/**
 * The broker's AMQP URL: AMQP_URL when set; the broker `npm start` runs (found by its metrics port, a
 * scrape target of job rabbitmq); else Compose's, published on 127.0.0.1 with the credentials of `.env`.
 */
async function connect(ctx) {
  if (process.env.AMQP_URL && process.env.AMQP_URL !== 'none') return amqp.connect(process.env.AMQP_URL);
  const target = (await ctx.prometheus.targets()).find((t) => t.labels.job === 'rabbitmq');
  const url = target && new URL(target.scrapeUrl);
  if (url && ['127.0.0.1', 'localhost'].includes(url.hostname)) {
    for (const port of siblingPorts(Number(url.port))) {
      try {
        return await amqp.connect(`amqp://127.0.0.1:${port}`, { timeout: 2000 });
      } catch {
        // not the AMQP port (Erlang distribution, epmd)
      }
    }
    throw new Error(`no AMQP port found beside the broker's metrics port ${url.port}: set AMQP_URL`);
  }
  const env = Object.fromEntries(
    readFileSync(join(ROOT, '.env'), 'utf8')
      .split('\n')
      .map((line) => /^([A-Z_]+)=(.*)$/.exec(line.trim()))
      .filter(Boolean)
      .map(([, key, value]) => [key, value]),
  );
  return amqp.connect(
    `amqp://${env.RABBITMQ_USER}:${env.RABBITMQ_PASSWORD}@127.0.0.1:${env.RABBITMQ_AMQP_HOST_PORT ?? 5672}`,
  );
}

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
      const connection = await connect(ctx);
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
      const connection = await connect(ctx);
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
