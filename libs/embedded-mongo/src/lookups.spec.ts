import {
  type Collection,
  type Db,
  type Document,
  type FindOptions,
  Long,
  MongoClient,
  ObjectId,
} from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedMongoServer } from './embedded-mongo.server.js';

const hex = '64b0000000000000000000aa';
/** `_id`s of different BSON types that a careless key would confuse. */
const IDS: unknown[] = [
  new ObjectId(hex),
  hex,
  1,
  '1',
  1.5,
  true,
  'true',
  new Date(1),
  Long.fromString('9007199254740993'),
  { a: 1, b: 2 },
  { b: 2, a: 1 },
  '',
];

/**
 * The `_id`s whose general answer is MongoDB's: mingo ignores field order in embedded documents,
 * MongoDB (and the `_id` lookup) does not, so the two embedded-document `_id`s are compared only
 * to what they must find.
 */
const SCALAR_IDS = IDS.filter((id) => id === null || typeof id !== 'object' || !(id.constructor === Object));

/** The same filter in a form no shortcut takes: `$and` makes the store scan and ask mingo. */
const general = (filter: Document): Document => ({ $and: [filter] });

describe('lookups by _id and unique key, and conditional updates (shortcuts vs the general path)', () => {
  let server: EmbeddedMongoServer;
  let client: MongoClient;
  let db: Db;
  let items: Collection<Document>;

  beforeAll(async () => {
    server = await EmbeddedMongoServer.start();
    client = await MongoClient.connect(server.uri);
    db = client.db(`lookups_${process.pid}`);
    items = db.collection<Document>('items');
    await items.createIndex({ key: 1 }, { unique: true, sparse: true });
    await items.insertMany(
      IDS.map((_id, i) => ({ _id, i, n: i % 3, name: `item ${i}`, key: `k${i}` })) as Document[],
    );
  });

  afterAll(async () => {
    await client?.close();
    await server?.stop();
  });

  it('finds each _id type by value without confusing one with another', async () => {
    for (const [i, _id] of IDS.entries()) {
      const found = await items.findOne({ _id } as Document);
      expect(found?.i, `_id ${JSON.stringify(_id)}`).toBe(i);
      if (SCALAR_IDS.includes(_id)) expect(found).toEqual(await items.findOne(general({ _id })));
    }
    expect(await items.findOne({ _id: new ObjectId() })).toBeNull();
    expect(await items.findOne({ _id: 2 } as Document)).toBeNull();
    expect(await items.findOne(general({ _id: 2 }))).toBeNull();
  });

  it('answers projections, sorts, limits and extra conditions as the general path does', async () => {
    for (const _id of SCALAR_IDS) {
      const shapes: FindOptions[] = [
        { projection: { name: 1 } },
        { projection: { _id: 0, n: 1 } },
        { projection: { name: 0, key: 0 } },
        { sort: { n: -1 } },
        { limit: 1 },
      ];
      for (const options of shapes) {
        const fast = await items.find({ _id } as Document, options).toArray();
        expect(fast).toEqual(await items.find(general({ _id }), options).toArray());
        expect(fast).toHaveLength(1);
      }
      for (const extra of [{ n: 1 }, { n: { $lt: 2 } }, { n: { $gte: 1 }, name: { $gt: 'item' } }]) {
        const filter = { _id, ...extra } as Document;
        expect(await items.find(filter).toArray()).toEqual(await items.find(general(filter)).toArray());
      }
    }
  });

  it('sorts by _id alone as mingo sorts, ObjectIds by their bytes, mixed _id types included', async () => {
    const sorted = db.collection<Document>('sorted');
    // Timestamps out of insertion order, and hex digits that order differently as numbers.
    const ids = [
      '65a000000000000000000009',
      '64ff00000000000000000001',
      '65a00000000000000000000a',
      '0000000000000000000000ff',
    ];
    await sorted.insertMany(ids.map((hexId, i) => ({ _id: new ObjectId(hexId), i })));
    for (const direction of [1, -1] as const) {
      for (const options of [{}, { limit: 2 }, { skip: 1, limit: 2 }, { projection: { _id: 0, i: 1 } }]) {
        const fast = await sorted.find({}, { ...options, sort: { _id: direction } }).toArray();
        // A second key no document ties on sends the sort to mingo.
        const slow = await sorted.find({}, { ...options, sort: { _id: direction, i: 1 } }).toArray();
        expect(fast, JSON.stringify({ direction, options })).toEqual(slow);
      }
    }
    expect((await sorted.find({}, { sort: { _id: 1 } }).toArray()).map((doc) => doc.i)).toEqual([3, 1, 0, 2]);
    // Other _id types beside ObjectIds: mingo's order of BSON types.
    expect(await items.find({}, { sort: { _id: -1 } }).toArray()).toEqual(
      await items.find({}, { sort: { _id: -1, i: 1 } }).toArray(),
    );
  });

  it('finds by a unique key as the general path does', async () => {
    for (const key of ['k0', 'k5', 'k11', 'absent']) {
      expect(await items.findOne({ key })).toEqual(await items.findOne(general({ key })));
    }
    expect((await items.findOne({ key: 'k3' }))?._id).toBe('1');
  });

  it('updates conditionally by _id: applied while the condition holds, then matched no more', async () => {
    const _id = new ObjectId(hex);
    await items.updateOne({ _id }, { $set: { n: 0 } });
    const results = [];
    for (let k = 0; k < 4; k++)
      results.push(await items.updateOne({ _id, n: { $lt: 2 } }, { $inc: { n: 1 }, $set: { touched: k } }));
    expect(results.map((r) => [r.matchedCount, r.modifiedCount])).toEqual([
      [1, 1],
      [1, 1],
      [0, 0],
      [0, 0],
    ]);
    expect(await items.findOne({ _id })).toMatchObject({ n: 2, touched: 1 });
    // The string with the same hex is another document, untouched.
    expect(await items.findOne({ _id: hex } as Document)).not.toHaveProperty('touched');
    const same = await items.updateOne({ _id }, { $set: { n: 2 } });
    expect([same.matchedCount, same.modifiedCount]).toEqual([1, 0]);
    const after = await items.findOneAndUpdate({ _id }, { $inc: { n: -2 } }, { returnDocument: 'after' });
    expect(after).toMatchObject({ _id, n: 0, touched: 1 });
  });
});
