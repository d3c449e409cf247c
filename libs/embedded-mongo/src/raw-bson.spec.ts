import { type Document, Long, ObjectId, serialize } from 'bson';
import { describe, expect, it } from 'vitest';
import { bsonOf, encodeCursorReply } from './raw-bson.js';

const DOCS: Document[] = [
  { _id: new ObjectId(), n: 1, name: 'ä €', at: new Date(0), nested: { list: [1, 'two', null] } },
  { _id: 'x', big: Long.fromString('9007199254740993'), f: 1.5, none: undefined },
  { _id: 3 },
];

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('raw BSON', () => {
  it('encodes cursor replies byte for byte as the bson package does', () => {
    for (const [docs, id, ns, first] of [
      [DOCS, Long.ZERO, 'db.items', true],
      [DOCS.slice(1), Long.fromNumber(42), 'dä.ïtems €', false],
      [[], Long.fromString('9007199254740993'), 'db.$cmd.listCollections', true],
      [Array.from({ length: 120 }, (_, i) => ({ _id: i })), Long.fromNumber(-5), 'db.c', true],
    ] as Array<[Document[], Long, string, boolean]>) {
      const expected = serialize(
        { cursor: first ? { firstBatch: docs, id, ns } : { nextBatch: docs, id, ns }, ok: 1 },
        { ignoreUndefined: true },
      );
      expect(hex(encodeCursorReply(ns, id, docs, first).body)).toBe(hex(expected));
    }
  });

  it('serialises a document once', () => {
    const doc = { _id: 1, n: 2 };
    expect(bsonOf(doc)).toBe(bsonOf(doc));
    expect(bsonOf({ ...doc })).not.toBe(bsonOf(doc));
  });
});
