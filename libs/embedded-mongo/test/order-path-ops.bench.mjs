// The store's own command path for the operations of one order, in-process: each operation in the
// shape the services send it (OP_MSG bytes as the driver writes them), decoded, handled, encoded and
// journaled (append, and a write every 16 operations, as under 16 in flight), without sockets. Prints
// the CPU µs per operation of each shape, the best of 3 runs. Compare builds by copying
// dist/libs/embedded-mongo aside and running this once per copy, in alternation, several times.
//
//   npm run build && node libs/embedded-mongo/test/order-path-ops.bench.mjs [built dir] [N]
//   (built dir: default dist/libs/embedded-mongo; N operations per run and shape: default 4000)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ObjectId, serialize } from 'bson';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const built = resolve(process.argv[2] ?? join(root, 'dist/libs/embedded-mongo'));
const N = Number(process.argv[3] ?? 4000);
const { Store } = await import(join(built, 'src/store.js'));
const { CommandHandler } = await import(join(built, 'src/command-handler.js'));
const { Persistence } = await import(join(built, 'src/persistence.js'));
const { decodeRequest, encodeOpMsg } = await import(join(built, 'src/wire-protocol.js'));

const dataDir = mkdtempSync(join(tmpdir(), 'order-path-ops-'));
const store = new Store();
const persistence = await Persistence.open({
  dataDir,
  store,
  log: () => undefined,
  onProgress: () => undefined,
  onFatal: (error) => {
    throw error;
  },
});
const handler = new CommandHandler(store, {
  host: '127.0.0.1',
  port: 0,
  startedAt: new Date(),
  persistent: true,
  connections: () => ({ current: 1, totalCreated: 1 }),
  log: (line) => console.error(line),
});
const connection = { connectionId: 1, remote: '127.0.0.1:1' };

let requestId = 1;
/** An OP_MSG with one body section, as the driver sends a command. */
function message(command) {
  // No lsid: the store does not advertise sessions, so the driver sends none.
  const body = serialize({ ...command, $db: 'lab' });
  const out = Buffer.alloc(21 + body.length);
  out.writeInt32LE(out.length, 0);
  out.writeInt32LE(requestId++, 4);
  out.writeInt32LE(2013, 12);
  out.set(body, 21);
  return out;
}
function run(bytes) {
  const request = decodeRequest(bytes);
  const reply = encodeOpMsg(
    1,
    request.header.requestId,
    handler.handle(request.db, request.command, connection),
  );
  if (reply.includes('errmsg')) throw new Error(`error reply: ${reply.toString('latin1')}`);
}

const products = [];
const customers = [];
const pending = [];
const pick = (list) => list[Math.floor(Math.random() * list.length)];
run(
  message({
    createIndexes: 'orders',
    indexes: [
      { key: { idempotencyKey: 1 }, name: 'idempotencyKey_1', unique: true, sparse: true },
      { key: { userId: 1, createdAt: 1 }, name: 'userId_1_createdAt_1' },
    ],
  }),
);
run(
  message({ createIndexes: 'customers', indexes: [{ key: { userId: 1 }, name: 'userId_1', unique: true }] }),
);
run(
  message({
    createIndexes: 'stock_reservations',
    indexes: [{ key: { orderId: 1 }, name: 'orderId_1', unique: true }],
  }),
);
for (let i = 0; i < 1000; i++) {
  const now = new Date();
  const product = { _id: new ObjectId(), name: `Product ${i}`, price: 19.99, stock: 1e9, holds: [] };
  products.push(product._id);
  run(message({ insert: 'products', documents: [{ ...product, createdAt: now, updatedAt: now }] }));
  customers.push(`user-${i}`);
  run(
    message({
      insert: 'customers',
      documents: [{ _id: new ObjectId(), userId: `user-${i}`, name: `Customer ${i}`, createdAt: now }],
    }),
  );
}
persistence.journal.write();

let key = 0;
const line = () => ({ productId: pick(products).toHexString(), quantity: 1 });
/** The five operations of an order (docs/performance.md, "Round trips per order"), in their order. */
const shapes = {
  'insert orders': () => {
    const now = new Date();
    const _id = new ObjectId();
    pending.push(_id);
    return message({
      insert: 'orders',
      documents: [
        {
          _id,
          userId: pick(customers),
          status: 'PENDING',
          lines: [line()],
          totalCents: null,
          reason: null,
          releasePending: false,
          idempotencyKey: `user:key-${key++}`,
          requestHash: 'a'.repeat(64),
          answer: null,
          createdAt: now,
          updatedAt: now,
        },
      ],
      ordered: true,
    });
  },
  'find customers': () =>
    message({ find: 'customers', filter: { userId: pick(customers) }, limit: 1, singleBatch: true }),
  'findAndModify products': () => {
    const now = new Date();
    const orderId = new ObjectId().toHexString();
    const hold = { orderId, token: `token-${orderId}`, quantity: 1, since: now };
    return message({
      findAndModify: 'products',
      query: { _id: pick(products), stock: { $gte: 1 }, 'holds.orderId': { $ne: orderId } },
      update: [
        {
          $set: {
            stock: { $subtract: ['$stock', 1] },
            holds: {
              $concatArrays: [
                {
                  $filter: {
                    input: { $ifNull: ['$holds', []] },
                    cond: { $not: [{ $in: ['$$this.token', { $literal: [hold.token] }] }] },
                  },
                },
                { $literal: [] },
              ],
            },
            updatedAt: { $literal: now },
          },
        },
      ],
      new: true,
    });
  },
  'insert stock_reservations': () => {
    const now = new Date();
    const orderId = new ObjectId().toHexString();
    return message({
      insert: 'stock_reservations',
      documents: [
        {
          _id: new ObjectId(),
          orderId,
          status: 'RESERVED',
          lines: [line()],
          taken: [{ ...line(), name: 'Product', unitPrice: 19.99 }],
          holdToken: `token-${orderId}`,
          createdAt: now,
          updatedAt: now,
        },
      ],
      ordered: true,
    });
  },
  'update orders': () => {
    const now = new Date();
    const _id = pending.shift();
    const lines = [{ ...line(), name: 'Product', unitPriceCents: 1999 }];
    const body = {
      id: _id.toHexString(),
      status: 'CONFIRMED',
      lines,
      totalCents: 1999,
      createdAt: now.toISOString(),
    };
    const trace = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    return message({
      update: 'orders',
      updates: [
        {
          q: { _id, status: 'PENDING' },
          u: {
            $set: {
              status: 'CONFIRMED',
              lines,
              totalCents: 1999,
              updatedAt: now,
              answer: { status: 201, body },
            },
            $push: { outbox: { type: 'order.confirmed', occurredAt: now, trace } },
          },
        },
      ],
      ordered: true,
    });
  },
};

const best = {};
for (let attempt = 0; attempt < 3; attempt++) {
  for (const [name, make] of Object.entries(shapes)) {
    const messages = Array.from({ length: N }, make);
    const before = process.cpuUsage();
    for (let i = 0; i < N; i++) {
      run(messages[i]);
      if (i % 16 === 15) persistence.journal.write();
    }
    persistence.journal.write();
    const used = process.cpuUsage(before);
    best[name] = Math.min(best[name] ?? Infinity, (used.user + used.system) / N);
  }
}
const total = Object.values(best).reduce((sum, us) => sum + us, 0);
console.log(built);
for (const [name, us] of Object.entries(best))
  console.log(`  ${name.padEnd(26)} ${us.toFixed(1).padStart(6)} µs`);
console.log(`  ${'one order (the five)'.padEnd(26)} ${total.toFixed(1).padStart(6)} µs`);
await persistence.close();
rmSync(dataDir, { recursive: true, force: true });
