import { type Document, type Long, serialize } from 'bson';

/**
 * The BSON of each document, serialised once: stored documents are never mutated (a write swaps in
 * a new object), so their bytes serve every reply and checkpoint that carries them. Made when a
 * document is first read or checkpointed, not on write (journaling a write serialises the change as
 * a whole, and a document written again before it is read would have been serialised for nothing).
 * Undefined fields are left out, as in every reply.
 */
const cache = new WeakMap<Document, Uint8Array>();

export function bsonOf(doc: Document): Uint8Array {
  let bytes = cache.get(doc);
  if (!bytes) {
    // A copy of its own: a slice of Node's shared 8 KiB pool would keep the whole pool alive.
    bytes = new Uint8Array(serialize(doc, { ignoreUndefined: true }));
    cache.set(doc, bytes);
  }
  return bytes;
}

/** A reply body already encoded as BSON (a cursor's documents spliced in without re-serialising them). */
export class EncodedReply {
  constructor(readonly body: Uint8Array) {}
}

const BSON_STRING = 0x02;
const BSON_DOCUMENT = 0x03;
const BSON_ARRAY = 0x04;
const BSON_INT32 = 0x10;
const BSON_INT64 = 0x12;

/** Writes BSON elements into a buffer sized in advance. */
class Writer {
  offset = 0;
  constructor(readonly out: Buffer) {}

  /** Starts a document; returns its offset, for `end`. */
  begin(): number {
    const start = this.offset;
    this.offset += 4;
    return start;
  }

  end(start: number): void {
    this.out[this.offset++] = 0;
    this.out.writeInt32LE(this.offset - start, start);
  }

  name(type: number, name: string): void {
    this.out[this.offset++] = type;
    this.offset += this.out.write(name, this.offset, 'latin1');
    this.out[this.offset++] = 0;
  }

  string(name: string, value: string): void {
    this.name(BSON_STRING, name);
    const length = this.out.write(value, this.offset + 4, 'utf8');
    this.out.writeInt32LE(length + 1, this.offset);
    this.offset += 4 + length;
    this.out[this.offset++] = 0;
  }

  int32(name: string, value: number): void {
    this.name(BSON_INT32, name);
    this.offset = this.out.writeInt32LE(value, this.offset);
  }

  int64(name: string, value: Long): void {
    this.name(BSON_INT64, name);
    this.offset = this.out.writeInt32LE(value.low, this.offset);
    this.offset = this.out.writeInt32LE(value.high, this.offset);
  }

  raw(type: number, name: string, bytes: Uint8Array): void {
    this.name(type, name);
    this.out.set(bytes, this.offset);
    this.offset += bytes.length;
  }
}

/** Bytes of an element's type and name (names here are ASCII). */
const nameBytes = (name: string) => 2 + name.length;
const stringBytes = (name: string, value: string) => nameBytes(name) + 5 + Buffer.byteLength(value, 'utf8');

/**
 * `{ cursor: { firstBatch | nextBatch: [...docs], id, ns }, ok: 1 }` as the bson package encodes it,
 * with each document's stored bytes copied in.
 */
export function encodeCursorReply(ns: string, id: Long, docs: Document[], first: boolean): EncodedReply {
  const batchName = first ? 'firstBatch' : 'nextBatch';
  const bodies = docs.map(bsonOf);
  let arrayBytes = 5;
  bodies.forEach((body, i) => (arrayBytes += nameBytes(String(i)) + body.length));
  const cursorBytes = 4 + nameBytes(batchName) + arrayBytes + nameBytes('id') + 8 + stringBytes('ns', ns) + 1;
  const total = 4 + nameBytes('cursor') + cursorBytes + nameBytes('ok') + 4 + 1;
  const w = new Writer(Buffer.allocUnsafe(total));
  const reply = w.begin();
  w.name(BSON_DOCUMENT, 'cursor');
  const cursor = w.begin();
  w.name(BSON_ARRAY, batchName);
  const array = w.begin();
  bodies.forEach((body, i) => w.raw(BSON_DOCUMENT, String(i), body));
  w.end(array);
  w.int64('id', id);
  w.string('ns', ns);
  w.end(cursor);
  w.int32('ok', 1);
  w.end(reply);
  return new EncodedReply(w.out);
}
