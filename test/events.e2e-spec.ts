import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CUSTOMER_ORDER_EVENTS_DLQ,
  CUSTOMER_ORDER_EVENTS_QUEUE,
  ORDER_EVENT_SCHEMA_VERSION,
  ORDER_EVENTS_EXCHANGE,
  type OrderEvent,
} from '#lab/events';
import {
  type OtlpReceiver,
  type RabbitMqBroker,
  rabbitMqInstalled,
  repoRoot,
  type RunningLab,
  type RunningProcess,
  startLab,
  startNode,
  startOtlpReceiver,
  startRabbitMq,
  waitForHttp,
} from '#lab/testing';
import { type OrderBody, type Product, shopper } from './shopper.js';

interface Summary {
  count: number;
  totalSpent: number;
  lastOrderAt: string | null;
}

/** Polls `read` until `done` holds (at most `timeoutMs`); answers the last value read. */
async function eventually<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value)) {
    if (Date.now() > deadline) throw new Error(`still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    value = await read();
  }
  return value;
}

/** The value of one series of a service's `/metrics` (0 when absent). */
async function metric(baseUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`)))
      return Number(line.split(' ').at(-1));
  }
  return 0;
}

describe.skipIf(!rabbitMqInstalled())(
  'order events over RabbitMQ (a real broker, outbox, idempotent consumer)',
  () => {
    let broker: RabbitMqBroker;
    let otlp: OtlpReceiver;
    let lab: RunningLab;
    let customer: RunningProcess | undefined;
    let adminToken: string;
    let product: Product;
    const shop = shopper(() => lab.urls.gateway);
    const summaryOf = async (token: string) =>
      (await shop.call<{ orders: Summary | null }>(token, 'GET', '/api/customers/me')).body.orders;
    const consumed = (type: string, outcome: string) =>
      metric(lab.urls.customer, 'events_consumed_total', { type, outcome });
    const queueDepth = async (queue: string) => {
      const connection = await amqp.connect(broker.url);
      try {
        const channel = await connection.createChannel();
        return (await channel.checkQueue(queue)).messageCount;
      } finally {
        await connection.close();
      }
    };
    const publishRaw = async (routingKey: string, content: Buffer, messageId: string = randomUUID()) => {
      const connection = await amqp.connect(broker.url);
      try {
        const channel = await connection.createConfirmChannel();
        channel.publish(ORDER_EVENTS_EXCHANGE, routingKey, content, { persistent: true, messageId });
        await channel.waitForConfirms();
      } finally {
        await connection.close();
      }
    };
    /** An order event as the relay sends it (Nest's `{pattern, data}` envelope), by the test's hand. */
    const publishEvent = (event: { type: string; eventId: string }) =>
      publishRaw(
        event.type,
        Buffer.from(JSON.stringify({ pattern: event.type, data: event })),
        event.eventId,
      );
    const startCustomer = async () => {
      customer = startNode('dist/apps/customer/src/main.js', [], {
        env: {
          ...lab.env,
          OTEL_SERVICE_NAME: 'customer',
          NODE_OPTIONS: `--import ${join(repoRoot, 'dist/libs/telemetry/src/register.js')}`,
        },
      });
      await waitForHttp(`${lab.urls.customer}/health/ready`, 200, 30_000);
      await customer.waitForOutput(/consuming order events/, 30_000);
    };

    beforeAll(async () => {
      [broker, otlp] = await Promise.all([startRabbitMq(), startOtlpReceiver()]);
      const env = {
        AMQP_URL: broker.url,
        EVENTS_MAX_RETRIES: '2',
        EVENTS_RETRY_DELAY_MS: '200',
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_BSP_SCHEDULE_DELAY: '200',
      };
      // The customer service runs on its own, to be killed and started again.
      lab = await startLab(env, ['gateway', 'oauth', 'product', 'order']);
      await startCustomer();
      adminToken = await shop.admin();
      product = await shop.createProduct(adminToken, 1000, 12.5);
    }, 150_000);

    afterAll(async () => {
      customer?.signal('SIGTERM');
      await customer?.exited;
      await lab?.stop();
      await Promise.all([broker?.close(), otlp?.stop()]);
    }, 60_000);

    it('keeps the profile order summary in step with orders and cancels', async () => {
      const ann = await shop.signUp('ann');
      expect(await summaryOf(ann)).toEqual({ count: 0, totalSpent: 0, lastOrderAt: null });
      const one = await shop.order(ann, [{ productId: product.id, quantity: 1 }]);
      const two = await shop.order(ann, [{ productId: product.id, quantity: 2 }]);
      expect([one.status, two.status]).toEqual([201, 201]);
      const both = await eventually(
        () => summaryOf(ann),
        (s) => s?.count === 2,
      );
      expect(both).toMatchObject({ count: 2, totalSpent: 37.5 });
      expect(Date.parse(both?.lastOrderAt ?? '')).toBeGreaterThan(0);

      expect((await shop.call<OrderBody>(ann, 'POST', `/api/orders/${two.body.id}/cancel`)).status).toBe(200);
      expect(
        await eventually(
          () => summaryOf(ann),
          (s) => s?.count === 1,
        ),
      ).toMatchObject({ count: 1, totalSpent: 12.5 });
      // A rejected order changes nothing.
      const scarce = await shop.createProduct(adminToken, 1, 99);
      expect((await shop.order(ann, [{ productId: scarce.id, quantity: 2 }])).status).toBe(409);
      await eventually(
        () => metric(lab.urls.order, 'outbox_pending_events'),
        (n) => n === 0,
      );
      expect(await summaryOf(ann)).toMatchObject({ count: 1, totalSpent: 12.5 });
    });

    it('changes nothing for a duplicated event (same eventId)', async () => {
      const bea = await shop.signUp('bea');
      const placed = await shop.order(bea, [{ productId: product.id, quantity: 2 }]);
      expect(placed.status).toBe(201);
      const before = await eventually(
        () => summaryOf(bea),
        (s) => s?.count === 1,
      );
      const duplicates = await consumed('order.confirmed', 'duplicate');
      const userId = (await shop.call<{ userId: string }>(bea, 'GET', '/api/customers/me')).body.userId;
      const event: OrderEvent = {
        eventId: `${placed.body.id}:order.confirmed`,
        type: 'order.confirmed',
        schemaVersion: ORDER_EVENT_SCHEMA_VERSION,
        orderId: placed.body.id,
        userId,
        total: 25,
        lines: [{ productId: product.id, quantity: 2, unitPrice: 12.5 }],
        occurredAt: new Date().toISOString(),
      };
      await publishEvent(event);
      await eventually(
        () => consumed('order.confirmed', 'duplicate'),
        (n) => n === duplicates + 1,
      );
      expect(await summaryOf(bea)).toEqual(before);
    });

    it('dead-letters an unreadable message at once, and an event that keeps failing after its retries', async () => {
      const unreadable = await consumed('unknown', 'dead_lettered');
      const dlq = await queueDepth(CUSTOMER_ORDER_EVENTS_DLQ);
      await publishRaw('order.confirmed', Buffer.from('{not json'));
      await eventually(
        () => consumed('unknown', 'dead_lettered'),
        (n) => n === unreadable + 1,
      );
      expect(
        await eventually(
          () => queueDepth(CUSTOMER_ORDER_EVENTS_DLQ),
          (n) => n === dlq + 1,
        ),
      ).toBe(dlq + 1);
      expect(await consumed('unknown', 'retried')).toBe(0);
      // What the OrderEventsDeadLettered alert reads: the broker's own per-queue metric (rabbitmq_prometheus).
      const brokerDlqDepth = async () => {
        const text = await (
          await fetch(`${broker.prometheusUrl}/metrics/detailed?family=queue_coarse_metrics`)
        ).text();
        const line = text
          .split('\n')
          .find(
            (l) =>
              l.startsWith('rabbitmq_detailed_queue_messages{') &&
              l.includes(`queue="${CUSTOMER_ORDER_EVENTS_DLQ}"`),
          );
        return line ? Number(line.split(' ').at(-1)) : 0;
      };
      expect(await eventually(brokerDlqDepth, (n) => n === dlq + 1)).toBe(dlq + 1);

      // A valid event for a user without a profile: retried EVENTS_MAX_RETRIES (2) times, then dead-lettered.
      const retried = await consumed('order.confirmed', 'retried');
      const failed = await consumed('order.confirmed', 'dead_lettered');
      const orderId = randomBytes(12).toString('hex');
      const event: OrderEvent = {
        eventId: `${orderId}:order.confirmed`,
        type: 'order.confirmed',
        schemaVersion: ORDER_EVENT_SCHEMA_VERSION,
        orderId,
        userId: `nobody-${randomUUID()}`,
        total: 1,
        lines: [],
        occurredAt: new Date().toISOString(),
      };
      await publishEvent(event);
      await eventually(
        () => consumed('order.confirmed', 'dead_lettered'),
        (n) => n === failed + 1,
      );
      expect(await consumed('order.confirmed', 'retried')).toBe(retried + 2);
      expect(
        await eventually(
          () => queueDepth(CUSTOMER_ORDER_EVENTS_DLQ),
          (n) => n === dlq + 2,
        ),
      ).toBe(dlq + 2);
    });

    it('takes orders while the broker is down (10 s) and delivers every event once it is back, each counted once', async () => {
      const cid = await shop.signUp('cid');
      const published = await metric(lab.urls.order, 'events_published_total', { type: 'order.confirmed' });
      await broker.stop();
      const statuses: number[] = [];
      try {
        const downSince = Date.now();
        while (statuses.length < 5 || Date.now() - downSince < 10_000) {
          statuses.push((await shop.order(cid, [{ productId: product.id, quantity: 1 }])).status);
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
        expect(statuses.every((status) => status === 201)).toBe(true);
        await eventually(
          () => metric(lab.urls.order, 'outbox_pending_events'),
          (n) => n === statuses.length,
        );
        expect(await summaryOf(cid)).toEqual({ count: 0, totalSpent: 0, lastOrderAt: null });
      } finally {
        await broker.start();
      }
      const after = await eventually(
        () => summaryOf(cid),
        (s) => (s?.count ?? 0) >= statuses.length,
        60_000,
      );
      expect(after).toMatchObject({ count: statuses.length, totalSpent: 12.5 * statuses.length });
      await eventually(
        () => metric(lab.urls.order, 'outbox_pending_events'),
        (n) => n === 0,
      );
      expect(await metric(lab.urls.order, 'events_published_total', { type: 'order.confirmed' })).toBe(
        published + statuses.length,
      );
      // Nothing arrives twice later on either.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(await summaryOf(cid)).toMatchObject({ count: statuses.length });
    }, 150_000);

    it('keeps the events while the consumer is down and processes them when it is back', async () => {
      const dot = await shop.signUp('dot');
      const placed = [
        await shop.order(dot, [{ productId: product.id, quantity: 1 }]),
        await shop.order(dot, [{ productId: product.id, quantity: 1 }]),
      ];
      await eventually(
        () => summaryOf(dot),
        (s) => s?.count === 2,
      );
      customer?.signal('SIGKILL');
      await customer?.exited;
      // Cancelling needs no customer service (placing does): the cancelled events wait in the queue.
      for (const order of placed)
        expect((await shop.call<OrderBody>(dot, 'POST', `/api/orders/${order.body.id}/cancel`)).status).toBe(
          200,
        );
      expect(
        await eventually(
          () => queueDepth(CUSTOMER_ORDER_EVENTS_QUEUE),
          (n) => n === 2,
        ),
      ).toBe(2);

      await startCustomer();
      expect(
        await eventually(
          () => summaryOf(dot),
          (s) => s?.count === 0,
        ),
      ).toMatchObject({ count: 0, totalSpent: 0 });
      expect(
        await eventually(
          () => queueDepth(CUSTOMER_ORDER_EVENTS_QUEUE),
          (n) => n === 0,
        ),
      ).toBe(0);
    }, 90_000);

    it('exports one trace from the gateway through the PRODUCER and CONSUMER spans to the consumer database calls', async () => {
      const eve = await shop.signUp('eve');
      const traceId = randomBytes(16).toString('hex');
      const traced = await shop.call<OrderBody>(
        eve,
        'POST',
        '/api/orders',
        { lines: [{ productId: product.id, quantity: 1 }] },
        {
          'idempotency-key': randomUUID(),
          traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
        },
      );
      expect(traced.status).toBe(201);
      // Every process exports its spans in batches of its own: wait until each service's part is in.
      const spans = await otlp
        .waitFor((all) => {
          const ofTrace = all.filter((s) => s.traceId === traceId);
          const producer = ofTrace.find((s) => s.kind === 'PRODUCER' && s.serviceName === 'order');
          return (
            producer !== undefined &&
            ofTrace.some((s) => s.spanId === producer.parentSpanId) &&
            ofTrace.some((s) => s.serviceName === 'gateway' && s.kind === 'SERVER') &&
            ofTrace.some((s) => s.serviceName === 'customer' && s.kind === 'CONSUMER') &&
            ofTrace.some(
              (s) =>
                s.serviceName === 'customer' &&
                /mongo/i.test(String(s.attributes['db.system'] ?? s.attributes['db.system.name'] ?? '')),
            )
          );
        }, 20_000)
        .catch((error: unknown) => {
          const seen = otlp.spans
            .filter((s) => s.traceId === traceId)
            .map((s) => `${s.serviceName} ${s.kind} ${s.name}`);
          throw new Error(
            `${String(error)}; spans of the trace: ${seen.join(' | ')}; kinds seen anywhere: ${[...new Set(otlp.spans.map((s) => `${s.serviceName}:${s.kind}`))].join(',')}`,
          );
        });
      const mine = spans.filter((s) => s.traceId === traceId);
      const byId = new Map(mine.map((s) => [s.spanId, s]));
      const producer = mine.find((s) => s.kind === 'PRODUCER' && s.serviceName === 'order');
      const consumer = mine.find((s) => s.kind === 'CONSUMER' && s.serviceName === 'customer');
      expect(producer?.attributes['messaging.system']).toBe('rabbitmq');
      expect(consumer?.parentSpanId).toBe(producer?.spanId);
      // The producer hangs off the order's own spans, not off a timer's.
      expect(byId.get(producer?.parentSpanId ?? '')?.serviceName).toBe('order');
      expect(mine.some((s) => s.serviceName === 'gateway' && s.kind === 'SERVER')).toBe(true);
      const consumerDb = mine.filter(
        (s) => s.serviceName === 'customer' && s.parentSpanId === consumer?.spanId,
      );
      expect(consumerDb.length).toBeGreaterThan(0);
      // The consumer's log line carries the trace id.
      await customer?.waitForOutput(
        new RegExp(
          `"trace_id":"${traceId}"[^\\n]*order.confirmed|order.confirmed[^\\n]*"trace_id":"${traceId}"`,
        ),
        10_000,
      );
    });
  },
);
