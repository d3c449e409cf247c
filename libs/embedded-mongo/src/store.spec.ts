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

  it('still tests the other fields of the filter on the document it found', () => {
    expect(scanned(collection, { key: 'k501', state: 'DONE' }).found).toHaveLength(1);
    expect(scanned(collection, { key: 'k501', state: 'NEW' }).found).toEqual([]);
  });

  it('scans when no unique index is pinned whole, or the index cannot answer', () => {
    const filters: object[] = [
      { tenant: 't3' }, // part of a compound index
      { tenant: 't3', ref: 3 }, // numbers are left to the scan (1, 1.0, Long and Decimal128 compare equal)
      { code: 'c4' }, // a partial index holds only some documents
      { key: { $in: ['k1', 'k2'] } },
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
