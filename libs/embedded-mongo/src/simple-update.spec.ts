import { type Document, Long, ObjectId, serialize } from 'bson';
import { describe, expect, it } from 'vitest';
import { applySimpleUpdate } from './simple-update.js';
import { applyUpdate } from './update.js';

const oid = new ObjectId('64b000000000000000000001');
const date = new Date('2026-01-02T03:04:05Z');

const DOCUMENTS: Document[] = [
  { _id: 1 },
  { _id: oid, n: 0, name: 'a', tags: ['x'] },
  { _id: 'k', n: 5, at: date, sub: { a: 1, b: 2 } },
  { _id: 2, n: -0, name: null },
  { _id: 3, n: 'five', flag: false },
  { _id: 4, n: Long.fromString('9007199254740993') },
  { _id: 5, n: NaN, name: 'b' },
  { _id: 6, n: 1.5, at: new Date(date.getTime()), owner: oid },
  { _id: 7, outbox: [{ type: 'a', at: date }], lines: [{ p: 'x', q: 1 }], answer: null, status: 'PENDING' },
  { _id: 8, outbox: [], answer: { status: 201, body: { id: 'o1', lines: [] } } },
];

const UPDATES: Document[] = [
  { $inc: { n: 1 } },
  { $inc: { n: -1 } },
  { $inc: { n: 0 } },
  { $inc: { n: -0 } },
  { $inc: { n: 0.5, m: 2 } },
  { $inc: { fresh: 3 } },
  { $set: { name: 'a' } },
  { $set: { name: 'c', flag: true } },
  { $set: { name: null } },
  { $set: { at: date } },
  { $set: { at: new Date(date.getTime() + 1) } },
  { $set: { owner: new ObjectId(oid.toHexString()) } },
  { $set: { owner: new ObjectId() } },
  { $set: { n: 7 }, $inc: { m: 1 } },
  { $inc: { m: 1 }, $set: { added: 'last' } },
  { $set: { added: 'first' }, $inc: { m: 1 } },
  { $set: { sub: { a: 1, b: 2 } } },
  { $set: { sub: { b: 2, a: 1 } } },
  { $set: { tags: ['x'] } },
  { $set: { tags: [] } },
  {
    $set: {
      lines: [{ p: 'x', q: 2, at: date, owner: oid }],
      answer: { status: 201, body: { id: 'o1', lines: [] } },
    },
  },
  {
    $set: { status: 'CONFIRMED', answer: { status: 201, body: { n: [1, [2, null]] } } },
    $push: { outbox: { type: 'b', at: date } },
  },
  { $push: { outbox: { type: 'c', trace: {} } } },
  { $push: { tags: 'y' } },
  { $push: { tags: ['y', 'z'] } },
  { $push: { fresh: null } },
  { $inc: { n: 1 }, $push: { outbox: 1 }, $set: { z: { deep: { er: [date] } } } },
];

/** The BSON of a result, so field order and types count as well as values. */
const bytes = (doc: Document) => Buffer.from(serialize(doc)).toString('hex');

describe(applySimpleUpdate.name, () => {
  it('produces the document and modified flag applyUpdate produces, field order included', () => {
    let answered = 0;
    for (const doc of DOCUMENTS) {
      for (const u of UPDATES) {
        const before = bytes(doc);
        const simple = applySimpleUpdate(doc, u);
        expect(bytes(doc), 'the stored document is never touched').toBe(before);
        if (!simple) continue;
        answered++;
        const general = applyUpdate(doc, u, { filter: { _id: doc._id } });
        const what = `${JSON.stringify(u)} on ${JSON.stringify(doc)}`;
        expect(bytes(simple.doc), what).toBe(bytes(general.doc));
        expect(simple.doc, what).toEqual(general.doc);
        expect(simple.modified, what).toBe(general.modified);
      }
    }
    expect(answered).toBeGreaterThan((DOCUMENTS.length * UPDATES.length) / 2);
  });

  it('leaves other updates, and fields it cannot increment, to applyUpdate', () => {
    const doc = { _id: 1, n: 'five', list: [1], sub: { a: 1 } };
    for (const u of [
      { $inc: { n: 1 } }, // not a number: mingo's rules apply
      { $inc: { 'sub.a': 1 } },
      { $set: { _id: 1 } },
      { $set: { sub: { $a: 2 } } }, // a $ field name: mingo's rules apply
      { $set: { sub: JSON.parse('{"__proto__": {"x": 1}}') as Document } },
      { $set: { list: [Long.fromNumber(2)] } },
      { $push: { n: 2 } }, // not an array
      { $push: { list: { $each: [2] } } },
      { $push: { 'sub.list': 2 } },
      { $push: { list: 2 }, $set: { list: [1] } },
      { $unset: { n: '' } },
      { $inc: { m: '1' } },
      { $set: { m: 1 }, $inc: { m: 1 } },
      { $set: {} },
      { replacement: true },
      [{ $set: { m: 1 } }],
    ]) {
      expect(applySimpleUpdate(doc, u), JSON.stringify(u)).toBeUndefined();
    }
  });
});
