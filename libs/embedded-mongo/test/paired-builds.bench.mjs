// Two (or more) builds of the store side by side under the real driver, for a machine too busy for
// rounds of several seconds each (scripts/bench-store.mjs --cli A --cli B): one client process drives
// each store in turn with 16 operations in flight, in short bursts (0.4 s), the order flipped every
// pair, so both builds see the same load. Per build and operation it prints the client's CPU per
// operation (this process: the driver) and the store's (all its threads, from /proc/<pid>/task/*/schedstat,
// in ns), and for each build against the first one the median and quartiles of the paired ratios.
// Run it again with the builds' order swapped: the first position is not neutral.
//
//   npm run build && cp -r dist/libs/embedded-mongo dist/em-new     (likewise an older build as dist/em-old)
//   node libs/embedded-mongo/test/paired-builds.bench.mjs --cli dist/em-old/src/cli.js --cli dist/em-new/src/cli.js
//   [--pairs 40] [--burst 0.4] [--op findOne,updateOne,take,order] (`order` counts its two writes as one op)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MongoClient, ObjectId } from 'mongodb';

const IN_FLIGHT = 16;
const DOCUMENTS = 10_000;
const { values } = parseArgs({
  options: {
    cli: { type: 'string', multiple: true },
    pairs: { type: 'string', default: '40' },
    burst: { type: 'string', default: '0.4' },
    op: { type: 'string', default: 'findOne,updateOne' },
  },
});
if (!values.cli || values.cli.length < 2) throw new Error('give two or more --cli paths');

/** CPU time of every thread of a process, in µs. */
function cpuMicros(pid) {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return ns / 1000;
}

async function startBuild(cli) {
  const dataDir = mkdtempSync(join(tmpdir(), 'paired-builds-'));
  const child = spawn(process.execPath, [cli, '--port', '0', '--data-dir', dataDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const uri = await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      const ready = /ready on (mongodb:\/\/\S+)/.exec(String(chunk));
      if (ready) resolve(ready[1]);
    });
    child.once('exit', (code) => reject(new Error(`${cli} exited ${code} before it was ready`)));
  });
  const client = new MongoClient(uri, { maxPoolSize: IN_FLIGHT });
  const items = client.db('bench').collection('items');
  const ids = [];
  for (let start = 0; start < DOCUMENTS; start += 1000) {
    const docs = Array.from({ length: 1000 }, (_, i) => ({
      _id: new ObjectId(),
      n: 0,
      name: `Item ${start + i}`,
      price: (start + i) % 100,
      tags: ['bench', `t${(start + i) % 7}`],
      updatedAt: new Date(),
    }));
    await items.insertMany(docs);
    ids.push(...docs.map((d) => d._id));
  }
  const pick = () => ids[Math.floor(Math.random() * ids.length)];
  // The order service's collection and indexes, for `order`.
  const orders = client.db('bench').collection('orders');
  await orders.createIndexes([
    { key: { idempotencyKey: 1 }, name: 'idempotencyKey_1', unique: true, sparse: true },
    { key: { userId: 1, createdAt: 1 }, name: 'userId_1_createdAt_1' },
    { key: { status: 1 }, name: 'status_1' },
    { key: { releasePending: 1 }, name: 'releasePending_1' },
    { key: { 'outbox.type': 1 }, name: 'outbox_type' },
  ]);
  /** Per document, the tokens of the holds `take` left (the product service's four in flight at most). */
  const holds = new Map();
  const ops = {
    findOne: () => items.findOne({ _id: pick() }),
    updateOne: () => items.updateOne({ _id: pick(), n: { $lt: 1_000_000_000 } }, { $inc: { n: 1 } }),
    // The order service's two writes of an order: the PENDING insert, then the confirming update.
    order: async () => {
      const now = new Date();
      const _id = new ObjectId();
      const line = { productId: pick().toHexString(), quantity: 1 };
      await orders.insertOne({
        _id,
        userId: `user-${Math.floor(Math.random() * 100)}`,
        status: 'PENDING',
        lines: [line],
        totalCents: null,
        reason: null,
        releasePending: false,
        idempotencyKey: `user:${randomUUID()}`,
        requestHash: 'a'.repeat(64),
        answer: null,
        createdAt: now,
        updatedAt: now,
      });
      const lines = [{ ...line, name: 'Item', unitPriceCents: 1999 }];
      const body = {
        id: _id.toHexString(),
        status: 'CONFIRMED',
        lines,
        total: 19.99,
        createdAt: now.toISOString(),
      };
      return orders.updateOne(
        { _id, status: 'PENDING' },
        {
          $set: {
            status: 'CONFIRMED',
            lines,
            totalCents: 1999,
            updatedAt: new Date(),
            answer: { status: 201, body },
          },
          $push: {
            outbox: {
              type: 'order.confirmed',
              occurredAt: now,
              trace: { traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` },
            },
          },
        },
      );
    },
    // The product service's take of a line: a pipeline update that leaves a hold and drops older ones.
    take: () => {
      const _id = ids[Math.floor(Math.random() * 100)];
      const orderId = new ObjectId().toHexString();
      const token = randomUUID();
      const now = new Date();
      const held = holds.get(_id) ?? [];
      held.push(token);
      const drop = held.length > 4 ? held.splice(0, held.length - 4) : [];
      holds.set(_id, held);
      const kept = { $ifNull: ['$holds', []] };
      return items.findOneAndUpdate(
        { _id, n: { $gte: 0 }, 'holds.orderId': { $ne: orderId } },
        [
          {
            $set: {
              n: { $add: ['$n', 1] },
              holds: {
                $concatArrays: [
                  drop.length === 0
                    ? kept
                    : {
                        $filter: {
                          input: kept,
                          cond: { $not: [{ $in: ['$$this.token', { $literal: drop }] }] },
                        },
                      },
                  { $literal: [{ orderId, token, quantity: 1, since: now }] },
                ],
              },
              updatedAt: { $literal: now },
            },
          },
        ],
        { returnDocument: 'after' },
      );
    },
  };
  return {
    cli,
    ops,
    pid: child.pid,
    async stop() {
      await client.close();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function drive(op, seconds) {
  const end = performance.now() + seconds * 1000;
  let count = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (performance.now() < end) {
        await op();
        count++;
      }
    }),
  );
  return count;
}

const quantile = (list, q) => [...list].sort((a, b) => a - b)[Math.round(q * (list.length - 1))];

const builds = [];
try {
  for (const cli of values.cli) builds.push(await startBuild(cli));
  for (const name of values.op.split(',')) {
    for (const build of builds) await drive(build.ops[name], 1); // warm-up
    const bursts = builds.map(() => []);
    for (let pair = 0; pair < Number(values.pairs); pair++) {
      const order = pair % 2 === 0 ? [...builds.keys()] : [...builds.keys()].reverse();
      for (const i of order) {
        const storeBefore = cpuMicros(builds[i].pid);
        const clientBefore = process.cpuUsage();
        const count = await drive(builds[i].ops[name], Number(values.burst));
        const client = process.cpuUsage(clientBefore);
        bursts[i].push({
          count,
          client: client.user + client.system,
          store: cpuMicros(builds[i].pid) - storeBefore,
        });
      }
    }
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
    console.log(`${name}: ${values.pairs} pairs of ${values.burst} s bursts, load ${load}`);
    bursts.forEach((list, i) => {
      const sum = (field) => list.reduce((s, b) => s + b[field], 0);
      const perOp = (field) => (sum(field) / sum('count')).toFixed(1);
      console.log(
        `  ${builds[i].cli}: ${sum('count')} ops, client ${perOp('client')} µs/op, store ${perOp('store')} µs/op`,
      );
      if (i === 0) return;
      for (const field of ['client', 'store']) {
        const ratios = list.map((b, k) => b[field] / b.count / (bursts[0][k][field] / bursts[0][k].count));
        console.log(
          `    ${field} / first build, paired: median ${quantile(ratios, 0.5).toFixed(3)} (quartiles ${quantile(ratios, 0.25).toFixed(3)}–${quantile(ratios, 0.75).toFixed(3)})`,
        );
      }
    });
  }
} finally {
  for (const build of builds) await build.stop();
}
