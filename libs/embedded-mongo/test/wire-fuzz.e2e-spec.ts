import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningProcess, freePort, startNode } from '#lab/testing';
import { serialize } from 'bson';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageFramer, OP_MSG, OP_QUERY } from '../src/wire-protocol.js';

// FUZZ_SEED=<n> reproduces a failing run; the seed is in every failure message.
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const CASES = 4000;
const PARALLEL = 8;
const CLOSE_TIMEOUT_MS = 5000;

/** mulberry32: small, seeded, good enough to pick mutations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function opMsg(requestId: number, body: object, sequence?: [string, object[]]): Buffer {
  const parts = [Buffer.alloc(4), Buffer.from([0]), Buffer.from(serialize(body))];
  if (sequence) {
    const payload = Buffer.concat([
      Buffer.from(`${sequence[0]}\0`),
      ...sequence[1].map((d) => Buffer.from(serialize(d))),
    ]);
    const size = Buffer.alloc(4);
    size.writeInt32LE(payload.length + 4);
    parts.push(Buffer.from([1]), size, payload);
  }
  const rest = Buffer.concat(parts);
  const header = Buffer.alloc(16);
  header.writeInt32LE(16 + rest.length, 0);
  header.writeInt32LE(requestId, 4);
  header.writeInt32LE(OP_MSG, 12);
  return Buffer.concat([header, rest]);
}

/** Everything a client sends while connected through this proxy, cut into whole messages. */
async function captureDriverMessages(target: number): Promise<Buffer[]> {
  const framer = new MessageFramer();
  const messages: Buffer[] = [];
  const proxy: Server = createServer((client: Socket) => {
    const upstream = connect(target, '127.0.0.1');
    client.on('data', (chunk: Buffer) => {
      messages.push(...framer.push(chunk));
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((done) => proxy.listen(0, '127.0.0.1', done));
  const address = proxy.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  // One connection, so the framer sees a single ordered stream.
  const client = await MongoClient.connect(
    `mongodb://127.0.0.1:${port}/?maxPoolSize=1&directConnection=true`,
    {
      monitorCommands: false,
      serverMonitoringMode: 'poll',
      heartbeatFrequencyMS: 60_000,
    },
  );
  const items = client
    .db('fuzz')
    .collection<{ sku: string; qty: number; tags?: string[]; at?: Date; seen?: boolean }>('items');
  await items.insertMany([
    { sku: 'a', qty: 1, tags: ['x', 'y'] },
    { sku: 'b', qty: 2, at: new Date() },
  ]);
  await items.createIndex({ sku: 1 }, { unique: true });
  await items.find({ qty: { $gte: 1 } }, { sort: { qty: -1 }, projection: { sku: 1 } }).toArray();
  await items.updateOne({ sku: 'a' }, { $inc: { qty: 1 }, $push: { tags: 'z' } });
  await items
    .aggregate([{ $match: { qty: { $gt: 0 } } }, { $group: { _id: null, total: { $sum: '$qty' } } }])
    .toArray();
  await items.findOneAndUpdate({ sku: 'b' }, { $set: { seen: true } }, { returnDocument: 'after' });
  await items.deleteOne({ sku: 'zz' });
  await client.db('admin').command({ ping: 1 });
  await client.close();
  await new Promise<void>((done) => proxy.close(() => done()));
  return messages;
}

interface Outcome {
  replies: number;
  bytes: number;
}

/** Sends raw bytes on a fresh connection, half-closes it and waits for the server to close its side. */
function exchange(port: number, payload: Buffer, label: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const framer = new MessageFramer();
    let replies = 0;
    let bytes = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(
          `${label}: the server neither answered nor closed within ${CLOSE_TIMEOUT_MS} ms (FUZZ_SEED=${SEED})`,
        ),
      );
    }, CLOSE_TIMEOUT_MS);
    socket.on('connect', () => socket.end(payload));
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      try {
        replies += framer.push(chunk).length;
      } catch {
        // a reply the framer cannot cut is a finding too, but counted by bytes
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ replies, bytes });
    });
  });
}

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

describe(`embedded-mongo under malformed messages (FUZZ_SEED=${SEED})`, () => {
  let store: RunningProcess;
  let port: number;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'embedded-mongo-fuzz-'));
    port = await freePort();
    store = startNode('dist/libs/embedded-mongo/src/cli.js', ['--port', String(port), '--data-dir', dataDir]);
    await store.waitForOutput(/ready on/);
  });

  afterAll(async () => {
    store?.signal('SIGTERM');
    // A store stuck in a loop never handles SIGTERM.
    const stuck = setTimeout(() => store.signal('SIGKILL'), 5000);
    await store?.exited;
    clearTimeout(stuck);
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answers or closes every random and mutated message, and a normal client still gets answers', async () => {
    const random = prng(SEED);
    const int = (n: number) => Math.floor(random() * n);
    const pick = <T>(items: T[]): T => items[int(items.length)];
    const captured = await captureDriverMessages(port);
    expect(captured.length).toBeGreaterThan(5);
    const corpus = [
      ...captured,
      opMsg(1, { insert: 'seq', $db: 'fuzz' }, ['documents', [{ a: 1 }, { b: 'two' }]]),
      opMsg(2, { update: 'seq', $db: 'fuzz' }, ['updates', [{ q: { a: 1 }, u: { $set: { a: 2 } } }]]),
    ];
    const rssBefore = rssKb(store.pid);
    const lengthValues = (len: number) => [
      -1,
      -2,
      -0x80000000,
      0,
      1,
      4,
      5,
      16,
      20,
      len - 1,
      len + 1,
      len * 2,
      0x7fffffff,
      int(0x7fffffff),
    ];

    const mutations: Record<string, (base: Buffer) => Buffer> = {
      random: () => {
        const out = Buffer.alloc(int(200));
        for (let i = 0; i < out.length; i++) out[i] = int(256);
        if (out.length >= 16 && random() < 0.7) {
          out.writeInt32LE(out.length, 0);
          out.writeInt32LE(pick([OP_MSG, OP_QUERY, 2004, 1, 2013, int(5000)]), 12);
        }
        return out;
      },
      bitFlips: (base) => {
        const out = Buffer.from(base);
        for (let n = 1 + int(8); n > 0; n--) out[int(out.length)] ^= 1 << int(8);
        return out;
      },
      lengthField: (base) => {
        const out = Buffer.from(base);
        // The message length, the body's BSON size, or any 4 aligned bytes (a section or document size).
        const at = pick([0, 0, 21, 21, 4 * int(Math.floor(out.length / 4) - 1)]);
        if (at + 4 <= out.length) out.writeInt32LE(pick(lengthValues(out.length)), at);
        return out;
      },
      truncation: (base) => {
        const out = Buffer.from(base.subarray(0, 4 + int(base.length - 4)));
        if (out.length >= 4 && random() < 0.6) out.writeInt32LE(out.length, 0);
        return out;
      },
      sectionKind: (base) => {
        const out = Buffer.from(base);
        if (out.length > 20) out[20] = pick([1, 2, 3, 0xff, int(256)]);
        return out;
      },
      negativeSequence: (base) => {
        // A kind-1 section after the body with a negative or oversized size.
        const section = Buffer.alloc(10); // kind, size, "docs\0"
        section[0] = 1;
        section.writeInt32LE(pick([-1, -5, -9, -0x80000000, 0, 3, 0x7fffffff, 1 << 20]), 1);
        section.write('docs', 5);
        const out = Buffer.concat([base, section]);
        out.writeInt32LE(out.length, 0);
        return out;
      },
      opCode: (base) => {
        const out = Buffer.from(base);
        out.writeInt32LE(pick([1, 1000, 2001, 2002, 2005, 2006, 2010, 2011, 2012, -1, int(100_000)]), 12);
        return out;
      },
    };
    const kinds = Object.keys(mutations);

    const tally = new Map<string, { cases: number; answered: number; closedSilently: number }>();
    let next = 0;
    const runner = async () => {
      while (next < CASES) {
        const index = next++;
        const kind = kinds[index % kinds.length];
        // Mostly one message per connection; sometimes a few, with a valid one after a broken one.
        const count = random() < 0.8 ? 1 : 2 + int(3);
        const messages = Array.from({ length: count }, (_, i) =>
          i > 0 && random() < 0.5 ? pick(corpus) : mutations[kind](pick(corpus)),
        );
        const outcome = await exchange(port, Buffer.concat(messages), `case ${index} (${kind})`);
        const entry = tally.get(kind) ?? { cases: 0, answered: 0, closedSilently: 0 };
        entry.cases++;
        if (outcome.replies > 0) entry.answered++;
        else entry.closedSilently++;
        tally.set(kind, entry);
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, runner));

    const total = [...tally.values()].reduce((sum, t) => sum + t.cases, 0);
    expect(total).toBe(CASES);
    expect(store.child.exitCode, `the store exited (FUZZ_SEED=${SEED}):\n${store.output()}`).toBeNull();
    // Mutated messages that still parse get answers (the server is not just closing everything);
    // an unknown opCode always closes the connection, as mongod does.
    for (const [kind, t] of tally)
      if (kind !== 'opCode') expect(t.answered, `${kind}: ${JSON.stringify(t)}`).toBeGreaterThan(0);

    const client = await MongoClient.connect(`mongodb://127.0.0.1:${port}`);
    try {
      expect(await client.db('admin').command({ ping: 1 })).toMatchObject({ ok: 1 });
      const check = client.db('fuzz_check').collection('after');
      await check.insertOne({ alive: true });
      expect(await check.findOne({}, { projection: { _id: 0 } })).toEqual({ alive: true });
    } finally {
      await client.close();
    }
    // Nothing accumulates per bad message: far below what 4000 retained buffers or a runaway loop would hold.
    const rssAfter = rssKb(store.pid);
    expect(rssAfter - rssBefore, `RSS ${rssBefore} kB → ${rssAfter} kB`).toBeLessThan(200 * 1024);
    console.log(
      `fuzz seed ${SEED}: ${total} cases`,
      Object.fromEntries(tally),
      `RSS ${rssBefore} → ${rssAfter} kB`,
    );
  });
});
