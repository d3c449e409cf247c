import { type Document, Long, ObjectId, serialize } from 'bson';
import { cloneDeep } from 'mingo/util';
import { describe, expect, it } from 'vitest';
import { runSharedPipeline } from './mingo-options.js';
import { applySimplePipeline } from './simple-pipeline.js';

const oid = new ObjectId('64b000000000000000000001');
const date = new Date('2026-01-02T03:04:05Z');
const hold = (orderId: string, token?: string) => ({
  orderId,
  ...(token === undefined ? {} : { token }),
  quantity: 2,
  since: date,
});

const DOCUMENTS: Document[] = [
  { _id: 1 },
  { _id: oid, name: 'p', stock: 10, holds: [] },
  { _id: 2, stock: 3, holds: [hold('o1', 't1'), hold('o2', 't2'), hold('o3')], updatedAt: date },
  { _id: 3, stock: 0, holds: null, returns: ['r:2026-01-01', 'r:2026-01-03'] },
  { _id: 4, stock: 'five', holds: [1, 'x', null, { token: '' }, [hold('o1', 't1')]] },
  { _id: 5, stock: 2.5, holds: [hold('o1', 't1')], returns: [], updatedAt: new Date(0) },
  { _id: 6, stock: Long.fromNumber(3), holds: 'none' },
  { _id: 7, stock: NaN, holds: [{ orderId: 'o1', token: 't1', extra: { deep: [date] } }] },
  { _id: 8, stock: 1, name: '', holds: [{ token: '' }, { token: 0 }, { token: 't' }, {}, { token: null }] },
];

const kept = (drop: string[]) => ({
  $filter: {
    input: { $ifNull: ['$holds', []] },
    cond: { $not: [{ $in: ['$$this.token', { $literal: drop }] }] },
  },
});
const recordedHold = (orderId: string, token?: string) =>
  token
    ? { $and: [{ $eq: ['$$this.orderId', orderId] }, { $eq: ['$$this.token', token] }] }
    : { $and: [{ $eq: ['$$this.orderId', orderId] }, { $eq: [{ $ifNull: ['$$this.token', null] }, null] }] };

const PIPELINES: Document[][] = [
  // The product service's take, without and with holds to drop.
  [
    {
      $set: {
        stock: { $subtract: ['$stock', 2] },
        holds: { $concatArrays: [{ $ifNull: ['$holds', []] }, { $literal: [hold('o9', 't9')] }] },
        updatedAt: { $literal: date },
      },
    },
  ],
  [
    {
      $set: {
        stock: { $subtract: ['$stock', 1] },
        holds: { $concatArrays: [kept(['t1', 't3']), { $literal: [hold('o9', 't9')] }] },
        updatedAt: { $literal: date },
      },
    },
  ],
  [{ $set: { holds: kept([]) } }],
  [{ $set: { holds: kept(['']) } }],
  // The put-back.
  ...[recordedHold('o1', 't1'), recordedHold('o3'), recordedHold('o2', 'nope')].map((recorded) => [
    {
      $set: {
        stock: { $add: ['$stock', 2] },
        returns: {
          $concatArrays: [
            { $filter: { input: { $ifNull: ['$returns', []] }, cond: { $gte: ['$$this', 'r:2026-01-02'] } } },
            { $literal: ['r:2026-01-04'] },
          ],
        },
        holds: { $filter: { input: { $ifNull: ['$holds', []] }, cond: { $not: [recorded] } } },
        updatedAt: { $literal: date },
      },
    },
  ]),
  // Stages read the document as it was before them; later stages see earlier ones.
  [{ $set: { stock: 1, before: '$stock' } }, { $addFields: { after: '$stock', name: 'plain text' } }],
  [{ $set: { fresh: { $add: ['$updatedAt', 1000] }, stock: { $add: [1, '$stock', 0.5] } } }],
  [{ $set: { age: { $subtract: ['$updatedAt', { $literal: date }] } } }],
  [{ $set: { at: { $subtract: ['$updatedAt', 1.4] } } }],
  [
    {
      $set: { n: { $subtract: ['$missing', 1] }, m: { $add: [null, 1] }, c: { $concatArrays: [[1], null] } },
    },
  ],
  [{ $set: { list: [1, '$stock', { $literal: '$stock' }, null, true, oid, date] } }],
  [{ $set: { first: { $ifNull: ['$missing', null, '$stock'] }, none: { $ifNull: ['$holds', 'x'] } } }],
  [{ $set: { has: { $in: ['$stock', [0, 3, 10, 2.5]] }, eq: { $eq: ['$stock', 3] } } }],
  [{ $set: { nil: { $eq: ['$missing', null] }, not: { $not: '$stock' }, empty: { $not: [] } } }],
  [{ $set: { and: { $and: [] }, blank: { $and: [''] }, notBlank: { $not: [''] } } }],
  [
    {
      $set: {
        ge: { $gte: ['$stock', 3] },
        sge: { $gte: ['$name', 'p'] },
        dge: { $gte: ['$updatedAt', date] },
      },
    },
  ],
  [{ $set: { holds: { $filter: { input: '$holds', cond: '$$this.token' } } } }],
  [{ $set: { holds: { $filter: { input: '$holds', cond: { $eq: ['$$this.quantity', '$stock'] } } } } }],
  [{ $set: { _idLike: '$_id', id: oid } }],
];

/** The BSON of a result, so field order and types count as well as values. */
const bytes = (doc: Document) => Buffer.from(serialize(doc)).toString('hex');

const mingo = (doc: Document, pipeline: Document[]) => {
  try {
    return { doc: runSharedPipeline(pipeline, [cloneDeep(doc)])[0] };
  } catch (error) {
    return { error };
  }
};

describe(applySimplePipeline.name, () => {
  it('produces the document mingo produces, field order and types included', () => {
    let answered = 0;
    for (const doc of DOCUMENTS) {
      for (const pipeline of PIPELINES) {
        const before = bytes(doc);
        const simple = applySimplePipeline(doc, pipeline);
        expect(bytes(doc), 'the stored document is never touched').toBe(before);
        if (!simple) continue;
        answered++;
        const general = mingo(doc, pipeline);
        const what = `${JSON.stringify(pipeline)} on ${JSON.stringify(doc)}`;
        expect(general.error, what).toBeUndefined();
        expect(bytes(simple), what).toBe(bytes(general.doc as Document));
        expect(simple, what).toEqual(general.doc);
      }
    }
    expect(answered).toBeGreaterThan((DOCUMENTS.length * PIPELINES.length) / 2);
  });

  it("answers the product service's take and put-back on the documents it keeps", () => {
    const product = DOCUMENTS[2];
    for (const pipeline of PIPELINES.slice(0, 7))
      expect(applySimplePipeline(product, pipeline)).toBeDefined();
  });

  it('leaves other pipelines, and values it does not compare, to mingo', () => {
    const doc = { _id: 1, stock: 3, name: 'p', holds: [hold('o1', 't1')], sub: { a: 1 }, at: date };
    for (const pipeline of [
      [{ $set: { 'sub.a': 2 } }],
      [{ $set: { _id: 2 } }],
      [{ $set: { n: '$sub.a' } }],
      [{ $set: { n: '$missing' } }], // mingo removes the field
      [{ $set: { n: { $ifNull: [] } } }],
      [{ $set: { n: '$$ROOT' } }],
      [{ $set: { n: '$$this' } }],
      [{ $set: { n: { a: 1 } } }],
      [{ $set: { n: { $size: '$holds' } } }],
      [{ $set: { n: { $subtract: ['$name', 1] } } }],
      [{ $set: { n: { $add: ['$at', '$at'] } } }],
      [{ $set: { n: { $add: ['$stock', Long.fromNumber(1)] } } }],
      [{ $set: { n: { $concatArrays: ['$holds', '$name'] } } }],
      [{ $set: { n: { $gte: ['$stock', 'x'] } } }],
      [{ $set: { n: { $gte: ['$holds', 1] } } }],
      [{ $set: { n: { $eq: ['$holds', 1] } } }],
      [{ $set: { n: { $in: ['x', '$name'] } } }],
      [{ $set: { n: { $not: [1, 2] } } }],
      [{ $set: { n: { $filter: { input: '$holds', as: 'h', cond: true } } } }],
      [{ $set: { n: { $filter: { input: '$name', cond: true } } } }],
      [{ $set: { n: { $filter: { input: '$holds', cond: '$$this.orderId.x' } } } }],
      [{ $set: {} }],
      [{ $project: { stock: 1 } }],
      [{ $set: { n: 1 }, $unset: 'stock' }],
      [{ $unset: 'stock' }],
    ]) {
      expect(applySimplePipeline(doc, pipeline), JSON.stringify(pipeline)).toBeUndefined();
    }
  });

  it('leaves an Invalid Date in a comparison and a date minus NaN to mingo (review)', () => {
    const doc = { _id: 1, at: new Date(NaN), when: date, n: NaN };
    for (const pipeline of [
      [{ $set: { late: { $gte: ['$at', new Date(0)] } } }],
      [{ $set: { late: { $gte: [new Date(0), '$at'] } } }],
      [{ $set: { at: { $subtract: ['$when', '$n'] } } }],
    ]) {
      expect(applySimplePipeline(doc, pipeline), JSON.stringify(pipeline)).toBeUndefined();
    }
  });

  it('concatenates arrays longer than a call takes arguments, as mingo does', () => {
    const long = Array.from({ length: 300_000 }, (_, i) => i);
    const doc = { _id: 1, long };
    const pipeline = [{ $set: { long: { $concatArrays: ['$long', { $literal: [-1] }] } } }];
    const simple = applySimplePipeline(doc, pipeline);
    expect(simple?.long).toHaveLength(300_001);
    expect((simple?.long as number[]).at(-1)).toBe(-1);
    expect(simple).toEqual(mingo(doc, pipeline).doc);
  });
});
