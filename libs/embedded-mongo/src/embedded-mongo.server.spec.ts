import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CommandStartedEvent,
  type CommandSucceededEvent,
  type Db,
  type Document,
  Decimal128,
  Long,
  MongoBulkWriteError,
  MongoClient,
  MongoServerError,
  ObjectId,
} from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedMongoServer } from './embedded-mongo.server.js';

interface Item {
  sku: string;
  qty: number;
  tags?: string[];
  sizes?: Array<{ s: string; n: number }>;
  kind?: string;
  seen?: boolean;
  createdBy?: string;
}

// With MONGO_URL set, the same expectations run against a real MongoDB.
const realMongo = process.env.MONGO_URL;

describe(EmbeddedMongoServer.name, () => {
  let server: EmbeddedMongoServer | undefined;
  let client: MongoClient;
  let db: Db;
  const dbName = `embedded_mongo_spec_${process.pid}_${Date.now()}`;
  const started: CommandStartedEvent[] = [];
  const succeeded: CommandSucceededEvent[] = [];

  beforeAll(async () => {
    if (!realMongo) server = await EmbeddedMongoServer.start();
    client = new MongoClient(realMongo ?? server?.uri ?? '', { monitorCommands: true });
    client.on('commandStarted', (event) => started.push(event));
    client.on('commandSucceeded', (event) => succeeded.push(event));
    await client.connect();
    db = client.db(dbName);
  });

  afterAll(async () => {
    await db?.dropDatabase();
    await client?.close();
    await server?.stop();
  });

  it('answers the handshake, ping and buildInfo like a standalone server', async () => {
    const hello = await db.admin().command({ hello: 1 });
    expect(hello).toMatchObject({ isWritablePrimary: true, ok: 1, maxBsonObjectSize: 16 * 1024 * 1024 });
    expect(hello.maxWireVersion).toBeGreaterThanOrEqual(17);
    expect(hello.compression).toBeUndefined();
    expect(await db.admin().ping()).toMatchObject({ ok: 1 });
    const buildInfo = await db.admin().buildInfo();
    expect(buildInfo.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('inserts and finds with filters, sort, skip, limit and projection', async () => {
    const people = db.collection('people');
    const inserted = await people.insertMany([
      { name: 'ada', age: 36, city: 'london' },
      { name: 'alan', age: 41, city: 'london' },
      { name: 'grace', age: 85, city: 'new york' },
      { name: 'linus', age: 21, city: 'helsinki' },
    ]);
    expect(inserted.insertedCount).toBe(4);
    expect(inserted.insertedIds[0]).toBeInstanceOf(ObjectId);

    const londoners = await people.find({ city: 'london' }).sort({ age: -1 }).toArray();
    expect(londoners.map((p) => p.name)).toEqual(['alan', 'ada']);

    const page = await people
      .find({ age: { $gte: 21 } }, { projection: { _id: 0, name: 1 } })
      .sort({ name: 1 })
      .skip(1)
      .limit(2)
      .toArray();
    expect(page).toEqual([{ name: 'alan' }, { name: 'grace' }]);

    const one = await people.findOne(
      { $or: [{ name: /^gr/ }, { age: { $lt: 10 } }] },
      { projection: { city: 1 } },
    );
    expect(one).toEqual({ _id: expect.any(ObjectId), city: 'new york' });
    expect(await people.findOne({ name: 'nobody' })).toBeNull();
  });

  it('hands out results in batches through getMore and kills cursors on close', async () => {
    const numbers = db.collection<{ n: number }>('numbers');
    await numbers.insertMany(Array.from({ length: 7 }, (_, n) => ({ n })));
    started.length = 0;
    const all = await numbers.find({}, { batchSize: 2 }).sort({ n: 1 }).toArray();
    expect(all.map((d) => d.n)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(started.filter((e) => e.commandName === 'getMore').length).toBeGreaterThanOrEqual(3);

    succeeded.length = 0;
    const cursor = numbers.find({}, { batchSize: 2 });
    await cursor.next();
    const id = cursor.id;
    expect(id && !id.isZero()).toBe(true);
    await cursor.close();
    const killed = succeeded.find((e) => e.commandName === 'killCursors');
    expect((killed?.reply as Document | undefined)?.cursorsKilled).toHaveLength(1);
    await expect(db.command({ getMore: id, collection: 'numbers' })).rejects.toMatchObject({ code: 43 });
  });

  it('updates with operators, array filters, upsert and multi', async () => {
    const items = db.collection<Item>('items');
    await items.insertMany([
      {
        sku: 'a',
        qty: 1,
        tags: ['x'],
        sizes: [
          { s: 'S', n: 1 },
          { s: 'M', n: 2 },
        ],
      },
      { sku: 'b', qty: 5, tags: [] },
      { sku: 'c', qty: 9, tags: [] },
    ]);
    const one = await items.updateOne(
      { sku: 'a' },
      { $inc: { qty: 2 }, $push: { tags: 'y' }, $set: { seen: true } },
    );
    expect(one).toMatchObject({ matchedCount: 1, modifiedCount: 1, upsertedCount: 0 });
    expect(await items.findOne({ sku: 'a' }, { projection: { _id: 0, qty: 1, tags: 1, seen: 1 } })).toEqual({
      qty: 3,
      tags: ['x', 'y'],
      seen: true,
    });

    const unchanged = await items.updateOne({ sku: 'a' }, { $set: { qty: 3 } });
    expect(unchanged).toMatchObject({ matchedCount: 1, modifiedCount: 0 });

    await items.updateOne(
      { sku: 'a' },
      { $set: { 'sizes.$[big].n': 20 } },
      { arrayFilters: [{ 'big.s': 'M' }] },
    );
    expect((await items.findOne({ sku: 'a' }))?.sizes).toEqual([
      { s: 'S', n: 1 },
      { s: 'M', n: 20 },
    ]);

    const many = await items.updateMany({ qty: { $gte: 3 } }, { $mul: { qty: 10 } });
    expect(many).toMatchObject({ matchedCount: 3, modifiedCount: 3 });

    const upsert = await items.updateOne(
      { sku: 'd', kind: { $eq: 'new' } },
      { $set: { qty: 1 }, $setOnInsert: { createdBy: 'upsert' } },
      { upsert: true },
    );
    expect(upsert).toMatchObject({ matchedCount: 0, modifiedCount: 0, upsertedCount: 1 });
    expect(upsert.upsertedId).toBeInstanceOf(ObjectId);
    expect(await items.findOne({ _id: upsert.upsertedId ?? undefined }, { projection: { _id: 0 } })).toEqual({
      sku: 'd',
      kind: 'new',
      qty: 1,
      createdBy: 'upsert',
    });

    const again = await items.updateOne(
      { sku: 'd' },
      { $inc: { qty: 1 }, $setOnInsert: { createdBy: 'other' } },
      { upsert: true },
    );
    expect(again).toMatchObject({ matchedCount: 1, modifiedCount: 1, upsertedCount: 0 });
    expect(await items.findOne({ sku: 'd' })).toMatchObject({ qty: 2, createdBy: 'upsert' });

    await expect(items.updateOne({ sku: 'd' }, { $set: { _id: new ObjectId() } })).rejects.toMatchObject({
      code: 66,
    });
  });

  it('replaces a whole document and keeps its _id', async () => {
    const profiles = db.collection('profiles');
    const { insertedId } = await profiles.insertOne({ name: 'old', extra: 1 });
    const result = await profiles.replaceOne({ _id: insertedId }, { name: 'new' });
    expect(result).toMatchObject({ matchedCount: 1, modifiedCount: 1 });
    expect(await profiles.findOne({ _id: insertedId })).toEqual({ _id: insertedId, name: 'new' });

    const upserted = await profiles.replaceOne({ name: 'ghost' }, { name: 'ghost', v: 2 }, { upsert: true });
    expect(upserted.upsertedCount).toBe(1);
    expect(await profiles.countDocuments({ name: 'ghost', v: 2 })).toBe(1);
  });

  it('findOneAndUpdate returns the document after the update and upserts; findOneAndDelete removes it', async () => {
    const counters = db.collection<{ _id: string; seq: number }>('counters');
    const first = await counters.findOneAndUpdate(
      { _id: 'orders' },
      { $inc: { seq: 1 } },
      { upsert: true, returnDocument: 'after' },
    );
    expect(first).toEqual({ _id: 'orders', seq: 1 });
    const second = await counters.findOneAndUpdate(
      { _id: 'orders' },
      { $inc: { seq: 1 } },
      { returnDocument: 'after' },
    );
    expect(second).toEqual({ _id: 'orders', seq: 2 });
    const before = await counters.findOneAndUpdate(
      { _id: 'orders' },
      { $inc: { seq: 1 } },
      { returnDocument: 'before' },
    );
    expect(before?.seq).toBe(2);
    const projected = await counters.findOneAndUpdate(
      { _id: 'orders' },
      { $set: { seq: 10 } },
      { returnDocument: 'after', projection: { _id: 0 } },
    );
    expect(projected).toEqual({ seq: 10 });
    expect(await counters.findOneAndUpdate({ _id: 'none' }, { $inc: { seq: 1 } })).toBeNull();
    expect(await counters.findOneAndDelete({ _id: 'orders' })).toEqual({ _id: 'orders', seq: 10 });
    expect(await counters.countDocuments()).toBe(0);
  });

  it('deletes one or many documents', async () => {
    const logs = db.collection('logs');
    await logs.insertMany([{ level: 'info' }, { level: 'info' }, { level: 'warn' }, { level: 'info' }]);
    expect((await logs.deleteOne({ level: 'info' })).deletedCount).toBe(1);
    expect((await logs.deleteMany({ level: 'info' })).deletedCount).toBe(2);
    expect((await logs.deleteMany({ level: 'debug' })).deletedCount).toBe(0);
    expect(await logs.find().project({ _id: 0 }).toArray()).toEqual([{ level: 'warn' }]);
  });

  it('counts documents exactly and by estimate', async () => {
    const events = db.collection('events');
    await events.insertMany(Array.from({ length: 12 }, (_, i) => ({ i, even: i % 2 === 0 })));
    expect(await events.countDocuments({ even: true })).toBe(6);
    expect(await events.countDocuments({}, { skip: 2, limit: 5 })).toBe(5);
    expect(await events.estimatedDocumentCount()).toBe(12);
    expect(await db.collection('missing').countDocuments()).toBe(0);
  });

  it('aggregates with $match, $group, $sort and $count', async () => {
    const sales = db.collection('sales');
    await sales.insertMany([
      { region: 'eu', amount: 10 },
      { region: 'us', amount: 5 },
      { region: 'eu', amount: 7 },
      { region: 'apac', amount: 1 },
      { region: 'us', amount: 20 },
    ]);
    const totals = await sales
      .aggregate([
        { $match: { amount: { $gt: 1 } } },
        { $group: { _id: '$region', total: { $sum: '$amount' }, n: { $sum: 1 } } },
        { $sort: { total: -1 } },
      ])
      .toArray();
    expect(totals).toEqual([
      { _id: 'us', total: 25, n: 2 },
      { _id: 'eu', total: 17, n: 2 },
    ]);
    const [counted] = await sales.aggregate([{ $match: { region: 'eu' } }, { $count: 'eu' }]).toArray();
    expect(counted).toEqual({ eu: 2 });
    const projected = await sales
      .aggregate([
        { $sort: { amount: 1 } },
        { $limit: 2 },
        { $project: { _id: 0, doubled: { $multiply: ['$amount', 2] } } },
      ])
      .toArray();
    expect(projected).toEqual([{ doubled: 2 }, { doubled: 10 }]);
  });

  it('returns distinct values, unwinding arrays', async () => {
    const posts = db.collection('posts');
    await posts.insertMany([
      { author: 'a', tags: ['db', 'node'] },
      { author: 'b', tags: ['node'] },
      { author: 'a', tags: ['ts'] },
    ]);
    expect((await posts.distinct('author')).sort()).toEqual(['a', 'b']);
    expect((await posts.distinct('tags', { author: 'a' })).sort()).toEqual(['db', 'node', 'ts']);
  });

  it('enforces unique indexes with duplicate-key errors on insert, update, upsert and findOneAndUpdate', async () => {
    const users = db.collection('users');
    expect(await users.createIndex({ email: 1 }, { unique: true })).toBe('email_1');
    await users.insertOne({ email: 'a@b.c' });
    const { insertedId } = await users.insertOne({ email: 'x@y.z' });

    const duplicate = await users.insertOne({ email: 'a@b.c' }).catch((error: unknown) => error);
    expect(duplicate).toBeInstanceOf(MongoServerError);
    expect(duplicate).toMatchObject({ code: 11000, keyValue: { email: 'a@b.c' } });
    expect((duplicate as Error).message).toMatch(
      new RegExp(
        `E11000 duplicate key error collection: ${dbName}\\.users index: email_1 dup key: \\{ email: "a@b\\.c" \\}`,
      ),
    );

    await expect(users.updateOne({ _id: insertedId }, { $set: { email: 'a@b.c' } })).rejects.toMatchObject({
      code: 11000,
    });
    await expect(
      users.updateOne({ email: 'new@b.c' }, { $set: { email: 'a@b.c' } }, { upsert: true }),
    ).rejects.toMatchObject({ code: 11000 });
    await expect(
      users.findOneAndUpdate({ _id: insertedId }, { $set: { email: 'a@b.c' } }, { returnDocument: 'after' }),
    ).rejects.toMatchObject({ code: 11000 });
    expect(await users.findOne({ _id: insertedId })).toMatchObject({ email: 'x@y.z' });

    await expect(users.insertOne({ _id: insertedId, email: 'other@b.c' })).rejects.toMatchObject({
      code: 11000,
    });

    const unordered = await users
      .insertMany([{ email: 'c@d.e' }, { email: 'a@b.c' }, { email: 'f@g.h' }], { ordered: false })
      .catch((error: unknown) => error);
    expect(unordered).toBeInstanceOf(MongoBulkWriteError);
    expect((unordered as MongoBulkWriteError).insertedCount).toBe(2);
    expect((unordered as MongoBulkWriteError).code).toBe(11000);

    const ordered = await users
      .insertMany([{ email: 'i@j.k' }, { email: 'a@b.c' }, { email: 'l@m.n' }])
      .catch((error: unknown) => error);
    expect((ordered as MongoBulkWriteError).insertedCount).toBe(1);
    expect(await users.countDocuments({ email: 'l@m.n' })).toBe(0);
  });

  it('lists indexes with the default _id_ index and drops them', async () => {
    const indexed = db.collection('indexed');
    await indexed.insertOne({ a: 1, b: 2 });
    await indexed.createIndex({ a: 1, b: -1 }, { name: 'a_b' });
    const indexes = await indexed.listIndexes().toArray();
    expect(indexes.map((i) => i.name)).toEqual(['_id_', 'a_b']);
    expect(indexes[1]).toMatchObject({ key: { a: 1, b: -1 } });
    await indexed.dropIndex('a_b');
    expect((await indexed.indexes()).map((i) => i.name)).toEqual(['_id_']);
    await expect(db.collection('no_such_collection').listIndexes().toArray()).rejects.toMatchObject({
      code: 26,
    });
  });

  it('lists collections honouring the name filter and nameOnly', async () => {
    const listDb = client.db(`${dbName}_list`);
    try {
      await listDb.createCollection('alpha');
      await listDb.collection('beta').insertOne({});
      const all = await listDb.listCollections().toArray();
      expect(all.map((c) => c.name).sort()).toEqual(['alpha', 'beta']);
      expect(all[0]).toMatchObject({ type: 'collection' });
      const filtered = await listDb.listCollections({ name: 'beta' }, { nameOnly: true }).toArray();
      expect(filtered).toEqual([{ name: 'beta', type: 'collection' }]);
      await expect(listDb.createCollection('alpha')).rejects.toMatchObject({ code: 48 });
    } finally {
      await listDb.dropDatabase();
    }
  });

  it('drops collections and databases', async () => {
    const dropDb = client.db(`${dbName}_drop`);
    await dropDb.collection('one').insertOne({ x: 1 });
    await dropDb.collection('two').insertOne({ x: 2 });
    expect(await dropDb.collection('one').drop()).toBe(true);
    expect((await dropDb.listCollections().toArray()).map((c) => c.name)).toEqual(['two']);
    const { databases } = await client.db().admin().listDatabases();
    expect(databases.map((d) => d.name)).toContain(`${dbName}_drop`);
    expect(await dropDb.dropDatabase()).toBe(true);
    expect(await dropDb.listCollections().toArray()).toEqual([]);
    expect(await dropDb.collection('two').countDocuments()).toBe(0);
  });

  it('keeps BSON types across round trips and matches ObjectIds by value', async () => {
    const typed = db.collection('typed');
    const id = new ObjectId();
    const other = new ObjectId();
    const when = new Date('2024-02-29T12:34:56.789Z');
    const doc = {
      _id: id,
      when,
      price: Decimal128.fromString('19.99'),
      big: Long.fromString('9007199254740993'),
      ratio: 0.25,
      nested: { list: [1, 'two', null, { three: 3 }], ref: other },
      nothing: null,
    };
    await typed.insertMany([doc, { _id: other, when: new Date(0) }]);

    const back = await typed.findOne({ _id: new ObjectId(id.toHexString()) });
    expect(back).toEqual(doc);
    expect(back?.price).toBeInstanceOf(Decimal128);
    expect(back?.big).toBeInstanceOf(Long);
    expect(back?.when).toBeInstanceOf(Date);

    expect(
      await typed.countDocuments({ _id: { $in: [new ObjectId(other.toHexString()), new ObjectId()] } }),
    ).toBe(1);
    expect(await typed.countDocuments({ 'nested.ref': new ObjectId(other.toHexString()) })).toBe(1);
    expect(await typed.countDocuments({ when: { $gt: new Date('2020-01-01') } })).toBe(1);
    const sorted = await typed.find().sort({ _id: -1 }).toArray();
    expect(sorted.map((d) => d._id.toHexString())).toEqual([other.toHexString(), id.toHexString()]);
  });

  it('applies 200 concurrent conditional decrements atomically, never going below zero', async () => {
    const stock = db.collection<{ _id: string; stock: number }>('stock');
    await stock.insertOne({ _id: 'widget', stock: 150 });
    const results = await Promise.all(
      Array.from({ length: 200 }, () =>
        stock.updateOne({ _id: 'widget', stock: { $gte: 1 } }, { $inc: { stock: -1 } }),
      ),
    );
    expect(results.reduce((sum, r) => sum + r.modifiedCount, 0)).toBe(150);
    expect(await stock.findOne({ _id: 'widget' })).toEqual({ _id: 'widget', stock: 0 });
  });

  it('answers an unknown command with CommandNotFound and keeps the connection working', async () => {
    const error = await db.command({ definitelyNotACommand: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MongoServerError);
    expect(error).toMatchObject({ code: 59, codeName: 'CommandNotFound' });
    expect((error as Error).message).toContain("no such command: 'definitelyNotACommand'");
    expect(await db.command({ ping: 1 })).toMatchObject({ ok: 1 });
  });

  it.skipIf(realMongo)(
    'offers no sessions: commands carry no lsid, and an explicit session fails in the driver without losing the connection',
    async () => {
      const items = db.collection('no_sessions');
      await items.insertOne({ _id: 'a' } as Document);
      const from = started.length;
      expect(await items.findOne({ _id: 'a' } as Document)).toEqual({ _id: 'a' });
      await items.updateOne({ _id: 'a' } as Document, { $set: { seen: true } });
      const sent = started.slice(from).filter((e) => e.commandName === 'find' || e.commandName === 'update');
      expect(sent.map((e) => e.commandName)).toEqual(['find', 'update']);
      expect(sent.map((e) => e.command.lsid)).toEqual([undefined, undefined]);

      const session = client.startSession();
      try {
        await expect(items.findOne({ _id: 'a' } as Document, { session })).rejects.toThrow(
          'Current topology does not support sessions',
        );
        session.startTransaction();
        await expect(items.insertOne({ _id: 'b' } as Document, { session })).rejects.toThrow(
          'Current topology does not support sessions',
        );
      } finally {
        await session.endSession();
      }
      expect(await items.countDocuments()).toBe(1);
      expect(await items.findOne({ _id: 'a' } as Document)).toEqual({ _id: 'a', seen: true });
    },
  );

  it.skipIf(realMongo)('keeps data and unique indexes across a restart with the same dataDir', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'embedded-mongo-'));
    try {
      const first = await EmbeddedMongoServer.start({ dataDir });
      const firstClient = await MongoClient.connect(first.uri);
      const accounts = firstClient.db('persisted').collection('accounts');
      await accounts.createIndex({ email: 1 }, { unique: true });
      await accounts.insertMany([
        { email: 'a@b.c', balance: Decimal128.fromString('1.50'), at: new Date(1000) },
        { email: 'd@e.f', balance: Decimal128.fromString('2'), at: new Date(2000) },
      ]);
      await accounts.updateOne({ email: 'd@e.f' }, { $set: { vip: true } });
      // Journaled before the acknowledgement, without waiting for stop().
      expect((await stat(join(dataDir, 'journal.000002'))).size).toBeGreaterThan(0);
      await firstClient.db('persisted').collection('dropped').insertOne({ gone: true });
      await firstClient.db('persisted').collection('dropped').drop();
      await firstClient.close();
      await first.stop();

      const second = await EmbeddedMongoServer.start({ dataDir });
      const secondClient = await MongoClient.connect(second.uri);
      try {
        const restored = secondClient.db('persisted').collection('accounts');
        expect(await restored.find({}, { projection: { _id: 0 } }).toArray()).toEqual([
          { email: 'a@b.c', balance: Decimal128.fromString('1.50'), at: new Date(1000) },
          { email: 'd@e.f', balance: Decimal128.fromString('2'), at: new Date(2000), vip: true },
        ]);
        expect((await restored.indexes()).map((i) => i.name)).toEqual(['_id_', 'email_1']);
        await expect(restored.insertOne({ email: 'a@b.c' })).rejects.toMatchObject({ code: 11000 });
        expect(await secondClient.db('persisted').listCollections({ name: 'dropped' }).toArray()).toEqual([]);
      } finally {
        await secondClient.close();
        await second.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('rejects start with an error naming host, port and the pid holding it when the port is in use', async () => {
    const holder = await EmbeddedMongoServer.start();
    try {
      const error = await EmbeddedMongoServer.start({ port: holder.port }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toContain(`127.0.0.1:${holder.port}`);
      expect((error as Error).message).toContain(`already in use by pid ${process.pid} (`);
    } finally {
      await holder.stop();
    }
  });
});
