import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type OtlpReceiver,
  type ReceivedSpan,
  repoRoot,
  type RunningLab,
  startLab,
  startOtlpReceiver,
} from '#lab/testing';
import { type OrderBody, type Product, shopper } from './shopper.js';

/** A round trip of one order: an HTTP hop into `service`, or a database operation of `service`. */
type RoundTrip = string;

/**
 * `<service> DB <operation> <collection>`. The MongoDB instrumentation names the collection of a
 * `findAndModify` `$cmd` (the command namespace), so for it only the service and operation are compared.
 */
const dbTrip = (service: string, operation: string, collection: string): RoundTrip =>
  operation === 'findAndModify' ? `${service} DB findAndModify` : `${service} DB ${operation} ${collection}`;

/**
 * The "Round trips per order" table of docs/performance.md, as `<service> HTTP` and
 * `<service> DB <operation> <collection>` entries, sorted.
 */
function documentedRoundTrips(): RoundTrip[] {
  const doc = readFileSync(join(repoRoot, 'docs/performance.md'), 'utf8');
  const section = doc.split('## Round trips per order')[1]?.split('\n## ')[0] ?? '';
  const trips: RoundTrip[] = [];
  for (const row of section.split('\n').filter((line) => /^\|\s*\d+\s*\|/.test(line))) {
    const [, , service, trip] = row.split('|').map((cell) => cell.trim());
    const db = /^DB `(\w+) (\w+)`/.exec(trip);
    if (db) trips.push(dbTrip(service, db[1], db[2]));
    else if (trip.startsWith('HTTP ')) trips.push(`${service} HTTP`);
    else throw new Error(`a row of the table is neither HTTP nor DB: ${row}`);
  }
  return trips.sort();
}

/** The same entries from one order's trace: a SERVER span per hop, a MongoDB span per operation. */
function tracedRoundTrips(spans: readonly ReceivedSpan[]): RoundTrip[] {
  const trips: RoundTrip[] = [];
  for (const span of spans) {
    const attribute = (name: string) => String(span.attributes[name] ?? '');
    if (span.kind === 'SERVER') trips.push(`${span.serviceName} HTTP`);
    else if (attribute('db.system.name') === 'mongodb' || attribute('db.system') === 'mongodb') {
      const operation = attribute('db.operation.name') || attribute('db.operation');
      const collection = attribute('db.collection.name') || attribute('db.mongodb.collection');
      trips.push(dbTrip(span.serviceName, operation, collection));
    }
  }
  return trips.sort();
}

describe('round trips per order (the table in docs/performance.md, checked against real traces)', () => {
  let otlp: OtlpReceiver;
  let lab: RunningLab;
  const shop = shopper(() => lab.urls.gateway);
  let buyer: string;
  let product: Product;
  /** Places an order in a trace of its own; answers the trace id. */
  const placeTraced = async () => {
    const traceId = randomBytes(16).toString('hex');
    const placed = await shop.call<OrderBody>(
      buyer,
      'POST',
      '/api/orders',
      { lines: [{ productId: product.id, quantity: 1 }] },
      {
        'idempotency-key': randomUUID(),
        traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
      },
    );
    expect(placed.status).toBe(201);
    return traceId;
  };

  beforeAll(async () => {
    otlp = await startOtlpReceiver();
    lab = await startLab({
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_TRACES_SAMPLER: 'always_on',
      OTEL_BSP_SCHEDULE_DELAY: '200',
    });
    product = await shop.createProduct(await shop.admin(), 100);
    buyer = await shop.signUp('round-trips');
    // The first order also fetches the order service's own token (cached after): not part of the table.
    await placeTraced();
  }, 150_000);

  afterAll(async () => {
    await lab?.stop();
    await otlp?.stop();
  }, 60_000);

  it('costs each order exactly the HTTP hops and database operations the table lists', async () => {
    const documented = documentedRoundTrips();
    expect(documented.filter((trip) => trip.endsWith(' HTTP'))).toHaveLength(4);

    const traces: string[] = [];
    for (let i = 0; i < 3; i++) traces.push(await placeTraced());
    // Each service exports its spans in the order they end: once a later order's spans arrived from
    // all four services, the earlier orders' traces are complete.
    const marker = await placeTraced();
    await otlp.waitFor(
      (spans) =>
        ['gateway', 'order', 'customer', 'product'].every((service) =>
          spans.some((s) => s.traceId === marker && s.serviceName === service && s.kind === 'SERVER'),
        ),
      30_000,
    );

    for (const traceId of traces) {
      const trace = otlp.spans.filter((span) => span.traceId === traceId);
      expect(tracedRoundTrips(trace), `order trace ${traceId}`).toEqual(documented);
    }
  });
});
