import { Binary, Decimal128, type Document, Long, ObjectId } from 'bson';
import { Query } from 'mingo';
import { describe, expect, it } from 'vitest';
import { SimpleFilter } from './simple-filter.js';

const oid = new ObjectId('64b000000000000000000001');
const date = new Date('2026-01-02T03:04:05Z');

/** Field values of every kind a stored document can hold, the awkward ones included. */
const VALUES: unknown[] = [
  undefined, // missing
  null,
  0,
  -0,
  1,
  1.5,
  -3,
  NaN,
  Infinity,
  '',
  '1',
  'a',
  'b',
  'ä',
  '64b000000000000000000001',
  true,
  false,
  oid,
  new ObjectId('64b000000000000000000001'),
  new ObjectId('64b000000000000000000002'),
  date,
  new Date(date.getTime()),
  new Date(date.getTime() + 1),
  new Date(NaN),
  Long.fromString('9007199254740993'),
  Decimal128.fromString('1'),
  new Binary(Buffer.from('a')),
  /a/,
  [],
  [1, 2],
  ['a', 'b'],
  [oid],
  [[1]],
  { a: 1 },
  {},
];

const OPERANDS: unknown[] = [0, 1, 1.5, -3, Infinity, '', '1', 'a', 'ä', true, false, oid, date];

const documents = (): Document[] =>
  VALUES.flatMap((a) =>
    [undefined, 1, 'x'].map((n) => {
      const doc: Document = { _id: 1 };
      if (a !== undefined) doc.a = a;
      if (n !== undefined) doc.n = n;
      return doc;
    }),
  );

const filters = (): Document[] => {
  const out: Document[] = [{}];
  for (const operand of OPERANDS) {
    out.push({ a: operand }, { a: { $eq: operand } });
    for (const op of ['$lt', '$lte', '$gt', '$gte']) {
      out.push({ a: { [op]: operand } });
      out.push({ a: operand, n: { [op]: 1 } });
      out.push({ a: { $gte: operand, [op]: operand } });
    }
  }
  return out;
};

/** Documents holding embedded documents in `h`, as a product holds its stock holds. */
const holders = (): Document[] =>
  [
    undefined,
    null,
    [],
    {},
    { o: 'a' },
    { o: 'b', t: 1 },
    [{ o: 'a' }],
    [{ o: 'b' }, { o: 'a', t: 'x' }],
    [{ t: 'x' }, { o: null }, { o: 1 }],
    [{ o: oid }, { o: date }, { o: true }],
    [{ o: new ObjectId('64b000000000000000000001') }],
    [{ o: new Date(date.getTime()) }],
    [{ o: ['a'] }],
    [{ o: [] }],
    [{ o: { x: 'a' } }],
    [{ o: 'b' }, 'a'],
    [['a']],
    [null],
    'a',
    5,
    oid,
  ].map((h) => (h === undefined ? { _id: 1 } : { _id: 1, h }));

describe(SimpleFilter.name, () => {
  it("answers exactly what mingo answers for $ne on a field of embedded documents (the product's take)", () => {
    let decided = 0;
    let compared = 0;
    for (const operand of [...OPERANDS, 'b']) {
      const filter = { 'h.o': { $ne: operand } };
      const simple = SimpleFilter.compile(filter);
      expect(simple, JSON.stringify(filter)).toBeDefined();
      const query = new Query(filter);
      for (const doc of holders()) {
        const answer = simple?.test(doc);
        compared++;
        if (answer === undefined) continue;
        decided++;
        expect(answer, `${JSON.stringify(filter)} on ${JSON.stringify(doc)}`).toBe(query.test(doc));
      }
    }
    expect(decided).toBeGreaterThan(compared * 0.6);
  });

  it('answers exactly what mingo answers wherever it answers', () => {
    let decided = 0;
    let compared = 0;
    for (const filter of filters()) {
      const simple = SimpleFilter.compile(filter);
      const query = new Query(filter);
      for (const doc of documents()) {
        const answer = simple?.test(doc);
        compared++;
        if (answer === undefined) continue;
        decided++;
        expect(answer, `${String(JSON.stringify(filter))} on ${String(JSON.stringify(doc))}`).toBe(
          query.test(doc),
        );
      }
    }
    // Most pairs are decided without mingo, or the shortcut would be pointless.
    expect(decided).toBeGreaterThan(compared * 0.7);
  });

  it('decides the filters services send by _id, unique key and conditional update', () => {
    const id = new ObjectId();
    const doc = { _id: id, key: 'k1', n: 3 };
    expect(SimpleFilter.compile({ _id: id })?.test(doc)).toBe(true);
    expect(SimpleFilter.compile({ _id: new ObjectId(id.toHexString()) })?.test(doc)).toBe(true);
    expect(SimpleFilter.compile({ _id: id.toHexString() })?.test(doc)).toBe(false);
    expect(SimpleFilter.compile({ key: 'k1' })?.test(doc)).toBe(true);
    expect(SimpleFilter.compile({ _id: id, n: { $lt: 4 } })?.test(doc)).toBe(true);
    expect(SimpleFilter.compile({ _id: id, n: { $lt: 3 } })?.test(doc)).toBe(false);
    const take = (orderId: string) =>
      SimpleFilter.compile({ _id: id, n: { $gte: 1 }, 'holds.orderId': { $ne: orderId } });
    const product = {
      _id: id,
      n: 3,
      holds: [{ orderId: 'o1', token: 't1', quantity: 1, since: new Date() }],
    };
    expect(take('o2')?.test(product)).toBe(true);
    expect(take('o1')?.test(product)).toBe(false);
  });

  it('leaves every other filter to mingo', () => {
    for (const filter of [
      { 'a.b': 1 },
      { 'a.b': { $eq: 1 } },
      { 'a.b': { $ne: null } },
      { 'a.b': { $ne: [1] } },
      { 'a.b': { $ne: 1, $lt: 2 } },
      { 'a.0': { $ne: 1 } },
      { 'a.b.c': { $ne: 1 } },
      { 'a.constructor': { $ne: 1 } },
      { $or: [{ a: 1 }] },
      { a: { $in: [1] } },
      { a: { $ne: 1 } },
      { a: null },
      { a: /x/ },
      { a: [1, 2] },
      { a: { b: 1 } },
      { a: { $eq: { b: 1 } } },
      { a: { $lt: true } },
      { a: { $lt: oid } },
      { a: NaN },
      { a: Long.fromNumber(1) },
      { a: {} },
      { a: { $exists: true } },
      { constructor: 1 },
      JSON.parse('{"__proto__": 1}') as Document,
    ]) {
      expect(SimpleFilter.compile(filter), JSON.stringify(filter)).toBeUndefined();
    }
  });

  it('leaves arrays and NaN in the document to mingo', () => {
    expect(SimpleFilter.compile({ a: 1 })?.test({ a: [1, 2] })).toBeUndefined();
    expect(SimpleFilter.compile({ a: { $lt: 1 } })?.test({ a: NaN })).toBeUndefined();
    // A failing condition decides the conjunction whatever the other one would have needed.
    expect(SimpleFilter.compile({ a: 1, n: 2 })?.test({ a: [1], n: 3 })).toBe(false);
  });
});
