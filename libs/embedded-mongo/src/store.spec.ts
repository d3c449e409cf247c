import { ObjectId } from 'bson';
import { Query } from 'mingo';
import { Query as BaseQuery } from 'mingo/query';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SimpleFilter } from './simple-filter.js';
import { Collection } from './store.js';

/** What `match` found, and how many documents it looked at (with mingo or the simple filter). */
const scanned = (collection: Collection, filter: object, collation?: unknown) => {
  // mingo's base class: the store's queries are made from it directly, the entry point's extend it.
  const spies = [vi.spyOn(BaseQuery.prototype, 'test'), vi.spyOn(SimpleFilter.prototype, 'test')];
  const found = collection.match(filter, collation);
  const looked = new Set(spies.flatMap((spy) => spy.mock.calls.map(([doc]) => doc)));
  for (const spy of spies) spy.mockRestore();
  return { found: found.map((doc) => doc._id), calls: looked.size };
};

/** The same filter answered by a full scan: the index may only make the answer cheaper, never different. */
const byScan = (collection: Collection, filter: object, collation?: unknown) =>
  collection.docs.size === 0
    ? []
    : [...collection.docs.values()]
        .filter((doc) => new Query(filter, collation ? { collation: collation as never } : {}).test(doc))
        .map((doc) => doc._id);

describe('Collection.match with unique indexes', () => {
  afterEach(() => vi.restoreAllMocks());

  const collection = new Collection('db', 'records');
  collection.createIndex({ v: 2, key: { key: 1 }, name: 'key_1', unique: true });
  collection.createIndex({ v: 2, key: { tenant: 1, ref: 1 }, name: 'tenant_1_ref_1', unique: true });
  collection.createIndex({ v: 2, key: { email: 1 }, name: 'email_1', unique: true, sparse: true });
  collection.createIndex({
    v: 2,
    key: { code: 1 },
    name: 'code_1',
    unique: true,
    partialFilterExpression: { live: true },
  });
  collection.createIndex({ v: 2, key: { tags: 1 }, name: 'tags_1', unique: true, sparse: true });
  const owner = new ObjectId();
  for (let i = 0; i < 1000; i++) {
    collection.insert({
      _id: new ObjectId(),
      key: `k${i}`,
      tenant: `t${i % 10}`,
      ref: i,
      state: i % 2 ? 'DONE' : 'NEW',
      code: `c${i}`,
      live: i % 2 === 0,
    });
  }
  collection.insert({
    _id: new ObjectId(),
    key: 'mixed',
    email: 'Ann@Example.com',
    tags: ['red', 'blue'],
    owner,
  });

  it('looks up one document for an equality on every field of a unique index', () => {
    for (const filter of [
      { key: 'k500' },
      { key: { $eq: 'k7' } },
      { email: 'Ann@Example.com' },
      { tags: 'blue' },
      { key: 'absent' },
    ]) {
      const { found, calls } = scanned(collection, filter);
      expect(found, JSON.stringify(filter)).toEqual(byScan(collection, filter));
      expect(calls, JSON.stringify(filter)).toBeLessThanOrEqual(1);
    }
  });

  it('looks up the documents of each value of an $in on a single-field unique index', () => {
    const filter = { key: { $in: ['k1', 'k2', 'absent', 'k1'] } };
    const { found, calls } = scanned(collection, filter);
    expect(new Set(found)).toEqual(new Set(byScan(collection, filter)));
    expect(found).toHaveLength(2);
    expect(calls).toBe(0); // the index alone decides it
  });

  it('still tests the other fields of the filter on the document it found', () => {
    expect(scanned(collection, { key: 'k501', state: 'DONE' }).found).toHaveLength(1);
    expect(scanned(collection, { key: 'k501', state: 'NEW' }).found).toEqual([]);
  });

  it('scans when no unique index is pinned whole, or the index cannot answer', () => {
    const filters: object[] = [
      { tenant: 't3' }, // part of a compound index
      { tenant: 't3', ref: 3 }, // numbers are left to the scan (1, 1.0, Long and Decimal128 compare equal)
      { code: 'c4' }, // a partial index holds only some documents
      { tenant: { $in: ['t1', 't2'] } }, // $in only on a single-field index
      { key: /k1/ },
      { key: null },
      { tags: ['red', 'blue'] },
    ];
    for (const filter of filters) {
      const { found, calls } = scanned(collection, filter);
      expect(found, JSON.stringify(filter)).toEqual(byScan(collection, filter));
      expect(calls, JSON.stringify(filter)).toBe(collection.docs.size);
    }
  });

  it('scans under a case-insensitive collation, where equal strings need not share an index key', () => {
    const collation = { locale: 'en', strength: 2 };
    const { found, calls } = scanned(collection, { email: 'ann@example.com' }, collation);
    expect(found).toEqual(byScan(collection, { email: 'ann@example.com' }, collation));
    expect(calls).toBe(collection.docs.size);
  });

  it('follows replacements and removals', () => {
    const records = new Collection('db', 'follow');
    records.createIndex({ v: 2, key: { key: 1 }, name: 'key_1', unique: true });
    const first = { _id: 1, key: 'a' };
    records.insert(first);
    const renamed = { _id: 1, key: 'b' };
    records.replace(first, renamed);
    expect(records.match({ key: 'a' })).toEqual([]);
    expect(records.match({ key: 'b' })).toEqual([renamed]);
    records.remove(renamed);
    expect(records.match({ key: 'b' })).toEqual([]);
  });
});

describe('Collection.match and count with non-unique indexes', () => {
  afterEach(() => vi.restoreAllMocks());

  const TYPES = ['order.confirmed', 'order.rejected', 'order.cancelled'];
  const orders = new Collection('db', 'orders');
  orders.createIndex({ v: 2, key: { status: 1 }, name: 'status_1' });
  orders.createIndex({ v: 2, key: { 'outbox.type': 1 }, name: 'outbox.type_1' });
  orders.createIndex({ v: 2, key: { expiresAt: 1 }, name: 'expiresAt_1', expireAfterSeconds: 0 });
  const docs = Array.from({ length: 600 }, (_, i) => ({
    _id: i,
    status: ['PENDING', 'CONFIRMED', 'REJECTED'][i % 3],
    outbox: i % 4 === 0 ? [] : TYPES.slice(0, i % 4).map((type) => ({ type })),
    expiresAt: new Date(1000),
  }));
  for (const doc of docs) orders.insert(doc);
  // What a naive multikey walk would key, and MongoDB's queries do not reach: an array in an array.
  orders.insert({ _id: 'nested', status: [['PENDING']], outbox: [[{ type: 'order.confirmed' }]] });
  orders.insert({ _id: 'field', status: 'CONFIRMED', outbox: { type: 'order.rejected' } });

  const filters: object[] = [
    { status: 'PENDING' },
    { status: { $eq: 'REJECTED' } },
    { status: 'ABSENT' },
    { 'outbox.type': 'order.confirmed' },
    { 'outbox.type': 'order.rejected' },
    { 'outbox.type': { $in: TYPES } },
    { 'outbox.type': { $in: ['order.cancelled', 'nothing'] } },
    { status: 'CONFIRMED', 'outbox.type': 'order.cancelled' },
  ];
  for (const filter of filters.slice(0, -1))
    it(`answers ${JSON.stringify(filter)} from the index alone, testing no document`, () => {
      const { found, calls } = scanned(orders, filter);
      expect(found).toHaveLength(byScan(orders, filter).length);
      expect(calls).toBe(0);
    });

  it('tests the other fields of the filter on the documents the index names', () => {
    const filter = filters.at(-1) as object;
    const { found, calls } = scanned(orders, filter);
    expect(new Set(found)).toEqual(new Set(byScan(orders, filter)));
    expect(calls).toBe(byScan(orders, { status: 'CONFIRMED' }).length);
  });

  it('looks at the documents an equality or $in on an indexed field names, and finds what a scan finds', () => {
    for (const filter of filters) {
      const { found, calls } = scanned(orders, filter);
      expect(new Set(found), JSON.stringify(filter)).toEqual(new Set(byScan(orders, filter)));
      expect(found, JSON.stringify(filter)).toHaveLength(byScan(orders, filter).length);
      expect(calls, JSON.stringify(filter)).toBeLessThan(orders.docs.size);
    }
  });

  it('counts what a scan counts, from the index alone for an equality on one indexed field', () => {
    for (const filter of filters) {
      const spies = [vi.spyOn(BaseQuery.prototype, 'test'), vi.spyOn(SimpleFilter.prototype, 'test')];
      const n = orders.count(filter);
      const looked = spies.reduce((sum, spy) => sum + spy.mock.calls.length, 0);
      for (const spy of spies) spy.mockRestore();
      expect(n, JSON.stringify(filter)).toBe(byScan(orders, filter).length);
      const exact = Object.keys(filter).length === 1 && !JSON.stringify(filter).includes('$in');
      if (exact) expect(looked, JSON.stringify(filter)).toBe(0);
    }
  });

  it('follows inserts, replacements and removals, keeping a document in place among the holders of a key it keeps', () => {
    const coll = new Collection('db', 'follow');
    coll.createIndex({ v: 2, key: { state: 1 }, name: 'state_1' });
    for (let i = 0; i < 5; i++) coll.insert({ _id: i, state: 'A', n: 0 });
    coll.replace({ _id: 1, state: 'A', n: 0 }, { _id: 1, state: 'A', n: 1 });
    coll.replace({ _id: 2, state: 'A', n: 0 }, { _id: 2, state: 'B', n: 0 });
    coll.remove({ _id: 3, state: 'A', n: 0 });
    expect(coll.match({ state: 'A' }).map((doc) => doc._id)).toEqual([0, 1, 4]);
    expect(coll.match({ state: 'B' }).map((doc) => doc._id)).toEqual([2]);
    expect([coll.count({ state: 'A' }), coll.count({ state: 'B' }), coll.count({ state: 'C' })]).toEqual([
      3, 1, 0,
    ]);
    coll.clear();
    expect(coll.count({ state: 'A' })).toBe(0);
  });

  it('an index created on documents already there holds them; a dropped one answers no more', () => {
    const coll = new Collection('db', 'late');
    for (let i = 0; i < 10; i++) coll.insert({ _id: i, state: i % 2 ? 'odd' : 'even' });
    coll.createIndex({ v: 2, key: { state: 1 }, name: 'state_1' });
    expect(scanned(coll, { state: 'odd' }).found).toHaveLength(5);
    expect(scanned(coll, { state: 'odd' }).calls).toBe(0);
    expect(coll.count({ state: 'odd' })).toBe(5);
    coll.dropIndex('state_1');
    expect(scanned(coll, { state: 'odd' }).calls).toBe(10);
    expect(coll.count({ state: 'odd' })).toBe(5);
  });
});

describe('Collection unique keys', () => {
  it("follows replacements that leave indexed fields alone, change them, or change what a partial index's filter reads", () => {
    const coll = new Collection('db', 'replaced');
    coll.createIndex({
      v: 2,
      key: { code: 1 },
      name: 'code_1',
      unique: true,
      partialFilterExpression: { live: true },
    });
    coll.createIndex({ v: 2, key: { 'b.c': 1 }, name: 'b.c_1' });
    coll.createIndex({ v: 2, key: { a: 1, 'b.c': 1 }, name: 'a_1_b.c_1', unique: true });
    const first = { _id: 0, a: 'x', b: { c: 'k' }, code: 'c0', live: true, n: 0 };
    coll.insert(first);
    // As an update makes them: a new object sharing the values it leaves alone.
    const counted = { ...first, n: 1 };
    coll.replace(first, counted);
    expect(coll.match({ 'b.c': 'k' }).map((doc) => doc._id)).toEqual([0]);
    expect(() => coll.insert({ _id: 1, code: 'c0', live: true })).toThrow(/E11000/);
    const retired = { ...counted, live: false };
    coll.replace(counted, retired);
    expect(() => coll.insert({ _id: 1, code: 'c0', live: true })).not.toThrow();
    const moved = { ...retired, b: { c: 'm' } };
    coll.replace(retired, moved);
    expect(coll.match({ 'b.c': 'k' })).toEqual([]);
    expect(coll.match({ 'b.c': 'm' }).map((doc) => doc._id)).toEqual([0]);
    expect(() => coll.insert({ _id: 2, a: 'x', b: { c: 'm' } })).toThrow(/E11000/);
    expect(() => coll.insert({ _id: 3, a: 'x', b: { c: 'k' } })).not.toThrow();
  });

  it('refuses only real duplicates: strings holding commas and quotes do not run into the next field', () => {
    const compound = new Collection('db', 'compound');
    compound.createIndex({ v: 2, key: { a: 1, b: 1 }, name: 'a_1_b_1', unique: true });
    compound.insert({ _id: 1, a: 'p', b: 'q,s:r' });
    expect(() => compound.insert({ _id: 2, a: 'p,s:q', b: 'r' })).not.toThrow();
    expect(() => compound.insert({ _id: 3, a: 'p', b: 'q,s:r' })).toThrow(/E11000/);

    const embedded = new Collection('db', 'embedded');
    embedded.createIndex({ v: 2, key: { a: 1 }, name: 'a_1', unique: true });
    embedded.insert({ _id: 1, a: { k: 'v,"j":s:w' } });
    expect(() => embedded.insert({ _id: 2, a: { k: 'v', j: 'w' } })).not.toThrow();

    embedded.insert({ _id: 3, a: { x: [/a/, 'b/'] } });
    expect(() => embedded.insert({ _id: 4, a: { x: [/a\/,s:b/] } })).not.toThrow();
    expect(() => embedded.insert({ _id: 5, a: { x: [/a/, 'b/'] } })).toThrow(/E11000/);
  });
});
