import { type Document, Long } from 'bson';
import { CommandError } from './errors.js';
import { type EncodedReply, bsonOf, encodeCursorReply } from './raw-bson.js';
import { MAX_BSON_OBJECT_SIZE } from './wire-protocol.js';

const DEFAULT_FIRST_BATCH = 101;
// Room for the reply envelope around a batch that fills a whole BSON document.
const MAX_BATCH_BYTES = MAX_BSON_OBJECT_SIZE - 64 * 1024;
const IDLE_TIMEOUT_MS = 10 * 60 * 1000;

interface ServerCursor {
  readonly ns: string;
  readonly docs: Document[];
  position: number;
  /** When it was last used, on the monotonic clock: the registry is in that order even if the wall clock steps back. */
  touched: number;
}

export interface CursorBatch {
  readonly id: Long;
  readonly batch: Document[];
}

/**
 * Server-side cursors: results are computed up front and handed out in batches by `getMore`. Cursors
 * idle for 10 minutes are dropped when the next one opens; the map is kept in the order they were last
 * used, so that finds the idle ones at its front and never walks the cursors in use.
 */
export class CursorRegistry {
  private readonly cursors = new Map<number, ServerCursor>();
  private nextId = 1;

  /** Opens a cursor unless the first batch already holds everything (then the id is 0). */
  open(ns: string, docs: Document[], batchSize: number | undefined, singleBatch = false): CursorBatch {
    this.expireIdle();
    const cursor: ServerCursor = { ns, docs, position: 0, touched: performance.now() };
    const batch = take(cursor, batchSize ?? DEFAULT_FIRST_BATCH);
    const exhausted = cursor.position >= docs.length && batchSize !== 0;
    if (singleBatch || exhausted) return { id: Long.ZERO, batch };
    const id = this.nextId++;
    this.cursors.set(id, cursor);
    return { id: Long.fromNumber(id), batch };
  }

  more(id: number, ns: string, batchSize: number | undefined): CursorBatch {
    const cursor = this.cursors.get(id);
    if (!cursor || cursor.ns !== ns)
      throw new CommandError(43, 'CursorNotFound', `cursor id ${id} not found`);
    const batch = take(cursor, batchSize && batchSize > 0 ? batchSize : Infinity);
    this.cursors.delete(id);
    if (cursor.position >= cursor.docs.length) return { id: Long.ZERO, batch };
    // Last used now: to the end of the map.
    cursor.touched = performance.now();
    this.cursors.set(id, cursor);
    return { id: Long.fromNumber(id), batch };
  }

  kill(id: number): boolean {
    return this.cursors.delete(id);
  }

  killNamespace(ns: string): void {
    for (const [id, cursor] of this.cursors) if (cursor.ns === ns) this.cursors.delete(id);
  }

  /** Drops the cursors idle too long: the first ones of the map, up to the first one still in use. */
  private expireIdle(): void {
    const cutoff = performance.now() - IDLE_TIMEOUT_MS;
    for (const [id, cursor] of this.cursors) {
      if (cursor.touched >= cutoff) return;
      this.cursors.delete(id);
    }
  }

  /** How many cursors are open. */
  get size(): number {
    return this.cursors.size;
  }
}

function take(cursor: ServerCursor, max: number): Document[] {
  const batch: Document[] = [];
  let bytes = 0;
  while (batch.length < max && cursor.position < cursor.docs.length) {
    const doc = cursor.docs[cursor.position];
    bytes += bsonOf(doc).length;
    if (batch.length > 0 && bytes > MAX_BATCH_BYTES) break;
    batch.push(doc);
    cursor.position++;
  }
  return batch;
}

/** `{ cursor: { firstBatch | nextBatch, id, ns }, ok: 1 }`, the documents' stored BSON spliced in. */
export const cursorReply = (ns: string, { id, batch }: CursorBatch, first: boolean): EncodedReply =>
  encodeCursorReply(ns, id, batch, first);
