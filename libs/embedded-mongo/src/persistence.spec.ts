import { spawnSync } from 'node:child_process';
import {
  appendFile,
  chmod,
  cp,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EJSON, serialize } from 'bson';
import { Int32, MongoClient, ObjectId } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedMongoServer, type EmbeddedMongoOptions } from './embedded-mongo.server.js';
import { nodeJournalFs } from './journal.js';

const dirs: string[] = [];
const tempDir = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'embedded-mongo-persistence-'));
  dirs.push(dir);
  return dir;
};

/** Starts a server on the directory, runs `work` with a connected client, then stops both. */
async function withServer<T>(
  dataDir: string,
  work: (client: MongoClient, server: EmbeddedMongoServer) => Promise<T>,
  options: EmbeddedMongoOptions = {},
): Promise<T> {
  const server = await EmbeddedMongoServer.start({ dataDir, ...options });
  const client = await MongoClient.connect(server.uri);
  try {
    return await work(client, server);
  } finally {
    await client.close();
    await server.stop();
  }
}

/**
 * What a SIGKILL of the store leaves on disk: the files as they are while it runs (written, not
 * necessarily fsynced), copied to a new directory the next server starts on.
 */
async function crashImage(dataDir: string): Promise<string> {
  const copy = await tempDir();
  await cp(dataDir, copy, { recursive: true });
  return copy;
}

const journals = async (dir: string) => (await readdir(dir)).filter((f) => f.startsWith('journal.')).sort();

/** A pid no process has: one of a child that has exited. */
const deadPid = (): number => spawnSync(process.execPath, ['-e', '']).pid ?? 0;

describe('EmbeddedMongoServer persistence', () => {
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it('accepts the same indexes again after a restart on the same data directory', async () => {
    const dataDir = await tempDir();
    const declare = async (client: MongoClient) => {
      const orders = client.db('shop').collection('orders');
      // What TypeORM's synchronize sends on every start: plain numbers, explicit names and options.
      return orders.createIndexes([
        { key: { customerId: 1, createdAt: -1 }, name: 'IDX_customer_created' },
        { key: { idempotencyKey: 1 }, name: 'IDX_idempotency', unique: true },
        { key: { expiresAt: 1 }, name: 'IDX_expires', expireAfterSeconds: 3600 },
      ]);
    };
    await withServer(dataDir, async (client) => {
      await declare(client);
      await client.db('shop').collection('orders').insertOne({ idempotencyKey: 'k1' });
    });
    await withServer(dataDir, async (client) => {
      expect(await declare(client)).toEqual(['IDX_customer_created', 'IDX_idempotency', 'IDX_expires']);
      const orders = client.db('shop').collection('orders');
      expect((await orders.indexes()).map((i) => [i.name, i.key])).toEqual([
        ['_id_', { _id: 1 }],
        ['IDX_customer_created', { customerId: 1, createdAt: -1 }],
        ['IDX_idempotency', { idempotencyKey: 1 }],
        ['IDX_expires', { expiresAt: 1 }],
      ]);
      await expect(orders.insertOne({ idempotencyKey: 'k1' })).rejects.toMatchObject({ code: 11000 });
    });
    // And a third time, on what the second start wrote.
    await withServer(dataDir, async (client) => {
      expect(await declare(client)).toHaveLength(3);
    });
  });

  it('keeps acknowledged writes of a server that never stopped, from its journal', async () => {
    const dataDir = await tempDir();
    const server = await EmbeddedMongoServer.start({ dataDir });
    const client = await MongoClient.connect(server.uri);
    let image: string;
    try {
      const db = client.db('shop');
      const orders = db.collection<{ _id: number; ref: string; state: string }>('orders');
      await orders.createIndex({ ref: 1 }, { unique: true });
      for (let i = 0; i < 50; i++) {
        await orders.insertOne({ _id: i, ref: `r${i}`, state: 'NEW' });
        await db
          .collection<{ _id: string }>('stock')
          .updateOne({ _id: 'sku' }, { $inc: { reserved: 1 } }, { upsert: true });
      }
      await orders.updateMany({ _id: { $lt: 10 } }, { $set: { state: 'DONE' } });
      await orders.deleteOne({ _id: 49 });
      await db.collection('gone').insertOne({ x: 1 });
      await db.collection('gone').drop();
      await db.collection('stock').rename('inventory');
      image = await crashImage(dataDir);
    } finally {
      await client.close();
      await server.stop();
    }
    await withServer(image, async (restarted) => {
      const db = restarted.db('shop');
      expect(await db.collection('orders').countDocuments()).toBe(49);
      expect(await db.collection('orders').countDocuments({ state: 'DONE' })).toBe(10);
      expect(await db.collection<{ _id: string }>('inventory').findOne({ _id: 'sku' })).toEqual({
        _id: 'sku',
        reserved: 50,
      });
      expect((await db.listCollections().toArray()).map((c) => c.name).sort()).toEqual([
        'inventory',
        'orders',
      ]);
      await expect(db.collection('orders').insertOne({ ref: 'r3' })).rejects.toMatchObject({ code: 11000 });
    });
  });

  it('ignores a record cut off at the end of the journal, with a log line, and keeps everything before it', async () => {
    const dataDir = await tempDir();
    const server = await EmbeddedMongoServer.start({ dataDir });
    const client = await MongoClient.connect(server.uri);
    let image: string;
    try {
      await client
        .db('app')
        .collection('events')
        .insertMany([{ n: 1 }, { n: 2 }, { n: 3 }]);
      image = await crashImage(dataDir);
    } finally {
      await client.close();
      await server.stop();
    }
    const [journal] = await journals(image);
    // The start of a record whose body never made it: a length, a checksum and a few bytes.
    await appendFile(join(image, journal), Buffer.from([0x40, 0, 0, 0, 1, 2, 3, 4, 0x21, 0]));
    const log: string[] = [];
    await withServer(
      image,
      async (restarted) => {
        expect(await restarted.db('app').collection('events').countDocuments()).toBe(3);
        await restarted.db('app').collection('events').insertOne({ n: 4 });
      },
      { log: (line) => log.push(line) },
    );
    expect(log.join('\n')).toMatch(
      new RegExp(`ignored the last 10 bytes of .*${journal}: a record of 64 bytes cut off`),
    );
    // The cut-off tail is gone for good: the next start finds a clean directory.
    const again: string[] = [];
    await withServer(
      image,
      async (c) => expect(await c.db('app').collection('events').countDocuments()).toBe(4),
      {
        log: (line) => again.push(line),
      },
    );
    expect(again.join('\n')).not.toContain('ignored');
  });

  it('refuses to start on a checkpoint it cannot read, naming the file, and leaves the data alone', async () => {
    const dataDir = await tempDir();
    await withServer(dataDir, (c) =>
      c
        .db('app')
        .collection('kept')
        .insertMany([{ a: 1 }, { a: 2 }]),
    );
    const checkpoint = join(dataDir, 'checkpoint.bson');
    const original = await readFile(checkpoint);
    const damaged = Buffer.from(original);
    damaged[damaged.length - 20] ^= 0xff;
    await writeFile(checkpoint, damaged);
    await expect(EmbeddedMongoServer.start({ dataDir })).rejects.toThrow(
      `embedded-mongo cannot load ${checkpoint}: damaged: a record failing its checksum`,
    );
    expect((await readFile(checkpoint)).equals(damaged)).toBe(true);

    // Unreadable (a directory where the file should be; root reads through file modes).
    const unreadable = await tempDir();
    await mkdir(join(unreadable, 'checkpoint.bson'));
    await expect(EmbeddedMongoServer.start({ dataDir: unreadable })).rejects.toThrow(
      `embedded-mongo cannot load ${join(unreadable, 'checkpoint.bson')}: EISDIR`,
    );

    await writeFile(checkpoint, original);
    await withServer(dataDir, async (c) =>
      expect(await c.db('app').collection('kept').countDocuments()).toBe(2),
    );
  });

  it.skipIf(process.getuid?.() === 0)(
    'refuses to start on a checkpoint it may not read (EACCES), naming the file',
    async () => {
      const dataDir = await tempDir();
      await withServer(dataDir, (c) => c.db('app').collection('kept').insertOne({ a: 1 }));
      const checkpoint = join(dataDir, 'checkpoint.bson');
      await chmod(checkpoint, 0o000);
      try {
        await expect(EmbeddedMongoServer.start({ dataDir })).rejects.toThrow(
          `embedded-mongo cannot load ${checkpoint}: EACCES`,
        );
      } finally {
        await chmod(checkpoint, 0o644);
      }
    },
  );

  it('loads a data directory of the earlier layout (<db>/<collection>.bson + .metadata.json) and turns it into a checkpoint', async () => {
    const dataDir = await tempDir();
    const ids = [new ObjectId(), new ObjectId()];
    await mkdir(join(dataDir, 'shop'));
    await writeFile(
      join(dataDir, 'shop', 'orders.bson'),
      Buffer.concat([
        serialize({ _id: ids[0], ref: 'a', qty: 2, at: new Date(1000) }),
        serialize({ _id: ids[1], ref: 'b', qty: 3, at: new Date(2000) }),
      ]),
    );
    // Exactly what the earlier version wrote: canonical EJSON, so numbers are {"$numberInt": ...}.
    await writeFile(
      join(dataDir, 'shop', 'orders.metadata.json'),
      EJSON.stringify(
        {
          collectionName: 'orders',
          type: 'collection',
          uuid: '0123456789abcdef0123456789abcdef',
          options: {},
          indexes: [
            { v: new Int32(2), key: { _id: new Int32(1) }, name: '_id_' },
            { v: new Int32(2), key: { ref: new Int32(1) }, name: 'IDX_ref', unique: true },
          ],
        },
        undefined,
        2,
        { relaxed: false },
      ),
    );
    const first = await withServer(dataDir, async (client) => {
      const orders = client.db('shop').collection('orders');
      expect(await orders.createIndex({ ref: 1 }, { name: 'IDX_ref', unique: true })).toBe('IDX_ref');
      await expect(orders.insertOne({ ref: 'a' })).rejects.toMatchObject({ code: 11000 });
      return orders.find({}, { sort: { ref: 1 } }).toArray();
    });
    expect(first).toEqual([
      { _id: ids[0], ref: 'a', qty: 2, at: new Date(1000) },
      { _id: ids[1], ref: 'b', qty: 3, at: new Date(2000) },
    ]);
    expect((await readdir(dataDir)).sort()).toEqual(['checkpoint.bson', ...(await journals(dataDir))]);
    const second = await withServer(dataDir, (client) =>
      client
        .db('shop')
        .collection('orders')
        .find({}, { sort: { ref: 1 } })
        .toArray(),
    );
    expect(second).toEqual(first);
  });

  it('fsyncs the journal before acknowledging a write with j: true, and not for the default write concern', async () => {
    const dataDir = await tempDir();
    let fsyncs = 0;
    const journalFs = { ...nodeJournalFs, fsync: (fd: number) => (fsyncs++, nodeJournalFs.fsync(fd)) };
    await withServer(
      dataDir,
      async (client, server) => {
        const items = client.db('app').collection('items');
        await items.insertOne({ warm: true }, { writeConcern: { j: true } });
        const before = fsyncs;
        for (let i = 0; i < 20; i++) await items.insertOne({ i });
        await items.updateMany({}, { $set: { seen: true } });
        expect(fsyncs).toBe(before);
        await items.insertOne({ durable: true }, { writeConcern: { j: true } });
        expect(fsyncs).toBe(before + 1);
        // journal=true in the URL: the driver sends writeConcern { j: true } with every write.
        const journaled = await MongoClient.connect(`${server.uri}/?journal=true`);
        try {
          await journaled.db('app').collection('items').deleteOne({ i: 0 });
          expect(fsyncs).toBe(before + 2);
        } finally {
          await journaled.close();
        }
      },
      { journalFs },
    );
  });

  it('holds the acknowledgement of a j: true write until its fsync completes', async () => {
    const dataDir = await tempDir();
    let gate: (() => void) | undefined;
    let gated = false;
    const journalFs = {
      ...nodeJournalFs,
      fsync: async (fd: number) => {
        if (gated) await new Promise<void>((open) => (gate = open));
        return nodeJournalFs.fsync(fd);
      },
    };
    await withServer(
      dataDir,
      async (client) => {
        const items = client.db('app').collection('items');
        await items.insertOne({ warm: true }, { writeConcern: { j: true } });
        const release = () => {
          gated = false;
          gate?.();
        };
        try {
          gated = true;
          let acknowledged = false;
          const write = items
            .insertOne({ durable: true }, { writeConcern: { j: true } })
            .then(() => (acknowledged = true));
          for (let i = 0; i < 500 && !gate; i++) await new Promise((done) => setTimeout(done, 5));
          expect(gate).toBeDefined();
          // The write is applied and journaled; a default-concern read on another connection sees it meanwhile.
          expect(await items.countDocuments({ durable: true })).toBe(1);
          expect(acknowledged).toBe(false);
          release();
          await write;
          expect(acknowledged).toBe(true);
        } finally {
          release(); // a failed expectation must not leave stop() waiting on the gate
        }
      },
      { journalFs },
    );
  });

  it('compacts the journal into checkpoints in the background, so it stays small under a steady write load', async () => {
    const dataDir = await tempDir();
    const checkpointBytes = 64 * 1024;
    const largestJournal = await withServer(
      dataDir,
      async (client) => {
        const counters = client.db('app').collection<{ _id: string; n: number; pad: string }>('counters');
        await counters.insertOne({ _id: 'c', n: 0, pad: 'x'.repeat(1000) });
        let largest = 0;
        for (let i = 0; i < 600; i++) {
          await counters.updateOne({ _id: 'c' }, { $inc: { n: 1 } });
          if (i % 50 === 0)
            for (const j of await journals(dataDir))
              largest = Math.max(largest, (await stat(join(dataDir, j)).catch(() => ({ size: 0 }))).size);
        }
        return largest;
      },
      { checkpointBytes },
    );
    // 600 journaled updates of a 1 KB document are over 600 KB; the journal stays within a few thresholds (a checkpoint
    // running while more writes arrive lets the next file grow past one).
    expect(largestJournal).toBeGreaterThan(0);
    expect(largestJournal).toBeLessThan(3 * checkpointBytes);
    await withServer(dataDir, async (client) =>
      expect(await client.db('app').collection('counters').findOne({})).toMatchObject({ n: 600 }),
    );
  });

  it('removes documents past their TTL index in the background, through the journal', async () => {
    const dataDir = await tempDir();
    const now = Date.now();
    let image = '';
    await withServer(
      dataDir,
      async (client) => {
        const records = client.db('app').collection('idempotency');
        await records.createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0 });
        await records.createIndex({ createdAt: 1 }, { expireAfterSeconds: 3600 });
        await records.insertMany([
          { key: 'expired', expiresAt: new Date(now - 1000) },
          { key: 'old', createdAt: new Date(now - 2 * 3600 * 1000) },
          { key: 'array', expiresAt: [new Date(now + 3600_000), new Date(now - 1000)] },
          { key: 'fresh', expiresAt: new Date(now + 3600_000), createdAt: new Date(now) },
          { key: 'not a date', expiresAt: now - 1000 },
          { key: 'no field' },
        ]);
        const deadline = Date.now() + 10_000;
        while ((await records.countDocuments()) > 3 && Date.now() < deadline)
          await new Promise((done) => setTimeout(done, 20));
        expect((await records.find().toArray()).map((r) => r.key).sort()).toEqual([
          'fresh',
          'no field',
          'not a date',
        ]);
        const status = await client.db('admin').command({ serverStatus: 1 });
        expect(status.metrics.ttl.deletedDocuments).toBe(3);
        expect(status.metrics.ttl.passes).toBeGreaterThan(0);
        expect(status.storageEngine.persistent).toBe(true);
        image = await crashImage(dataDir);
      },
      { ttlMonitorIntervalMs: 25 },
    );
    await withServer(image, async (client) =>
      expect(await client.db('app').collection('idempotency').countDocuments()).toBe(3),
    );
  });

  it('locks its data directory: a second server fails naming the holder, a lock of a dead process is taken over', async () => {
    const dataDir = await tempDir();
    const holder = await EmbeddedMongoServer.start({ dataDir });
    try {
      await expect(EmbeddedMongoServer.start({ dataDir })).rejects.toThrow(
        `data directory ${dataDir} is in use by embedded-mongo (pid ${process.pid}, listening on 127.0.0.1:${holder.port})`,
      );
    } finally {
      await holder.stop();
    }
    const stale = deadPid();
    await writeFile(join(dataDir, 'mongod.lock'), `${JSON.stringify({ pid: stale })}\n`);
    const log: string[] = [];
    await withServer(
      dataDir,
      async (client) => expect(await client.db('app').command({ ping: 1 })).toMatchObject({ ok: 1 }),
      {
        log: (line) => log.push(line),
      },
    );
    expect(log.join('\n')).toContain(`taking over the lock of pid ${stale}, which is no longer running`);
    await expect(stat(join(dataDir, 'mongod.lock'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('stops acknowledging and closes every connection when a journal write fails, instead of answering from memory', async () => {
    const dataDir = await tempDir();
    let full = false;
    const journalFs = {
      ...nodeJournalFs,
      writeSync: (fd: number, buffer: Buffer, offset: number, length: number) => {
        if (full)
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        return nodeJournalFs.writeSync(fd, buffer, offset, length);
      },
    };
    const fatal: Error[] = [];
    const server = await EmbeddedMongoServer.start({
      dataDir,
      journalFs,
      onFatal: (error) => fatal.push(error),
    });
    const client = await MongoClient.connect(server.uri, { serverSelectionTimeoutMS: 500 });
    try {
      const items = client.db('app').collection('items');
      await items.insertOne({ kept: true });
      full = true;
      await expect(items.insertOne({ lost: true })).rejects.toThrow();
      expect(fatal.map((e) => e.message)).toEqual([
        expect.stringMatching(/^journal write to .*journal\.\d+ failed: ENOSPC/),
      ]);
      await expect(items.findOne({})).rejects.toThrow();
    } finally {
      await client.close(true);
      await server.stop();
    }
    await withServer(dataDir, async (c) =>
      expect(
        await c
          .db('app')
          .collection('items')
          .find({}, { projection: { _id: 0 } })
          .toArray(),
      ).toEqual([{ kept: true }]),
    );
  });
});
