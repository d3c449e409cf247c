import { ObjectId } from 'bson';
import { Aggregator, Query } from 'mingo';
import { cloneDeep } from 'mingo/util';
import { describe, expect, it } from 'vitest';
import { binaryQuery, runSharedPipeline } from './mingo-options.js';

const id = new ObjectId();
const docs = [
  { _id: id, stock: 5, holds: [{ orderId: 'a', quantity: 1 }], name: 'Lamp', tags: ['x', 'y'] },
  { _id: new ObjectId(), stock: 0, name: 'lamp', price: 2.5 },
  { _id: 7, stock: 3, holds: [], nested: { deep: { n: 1 } } },
];

describe('queries and pipelines on the shared mingo options', () => {
  it('match what mingo entry point matches', () => {
    const filters = [
      { _id: id, stock: { $gte: 1 }, 'holds.orderId': { $ne: 'b' } },
      { 'holds.orderId': 'a' },
      { $or: [{ stock: 0 }, { 'nested.deep.n': { $gt: 0 } }] },
      { name: /^l/i },
      { $expr: { $gt: ['$stock', { $size: { $ifNull: ['$holds', []] } }] } },
      { tags: { $all: ['x'] }, price: { $exists: false } },
      { holds: { $elemMatch: { quantity: { $lt: 2 } } } },
    ];
    for (const filter of filters) {
      const expected = docs.filter((doc) => new Query(filter).test(doc));
      expect(
        docs.filter((doc) => binaryQuery(filter).test(doc)),
        JSON.stringify(filter),
      ).toEqual(expected);
      expect(expected.length, `${JSON.stringify(filter)} matches something`).toBeGreaterThan(0);
    }
  });

  it('give the documents mingo entry point gives, one run not leaking into the next', () => {
    const pipelines = [
      [
        {
          $set: {
            stock: { $subtract: ['$stock', 1] },
            holds: {
              $concatArrays: [
                {
                  $filter: {
                    input: { $ifNull: ['$holds', []] },
                    cond: { $not: [{ $in: ['$$this.orderId', { $literal: ['a'] }] }] },
                  },
                },
                { $literal: [{ orderId: 'c', quantity: 2 }] },
              ],
            },
          },
        },
      ],
      [{ $replaceWith: { $mergeObjects: ['$$ROOT', { copy: '$name' }] } }, { $unset: 'tags' }],
      [{ $project: { stock: 1, total: { $multiply: ['$stock', 2] } } }],
    ];
    for (const pipeline of pipelines) {
      for (const doc of docs) {
        const expected = new Aggregator(pipeline).run([cloneDeep(doc)]);
        expect(runSharedPipeline(pipeline, [cloneDeep(doc)]), JSON.stringify(pipeline)).toEqual(expected);
      }
    }
  });

  it('evaluate $$NOW per run', async () => {
    const now = () => runSharedPipeline([{ $set: { at: '$$NOW' } }], [{ _id: 1 }])[0].at as Date;
    const first = now();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(now().getTime()).toBeGreaterThan(first.getTime());
  });
});
