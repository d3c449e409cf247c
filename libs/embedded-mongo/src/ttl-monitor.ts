import type { Document } from 'bson';
import { pathValues } from './bson-values.js';
import type { Collection, Store } from './store.js';

/** mongod's `ttlMonitorSleepSecs` default. */
export const DEFAULT_TTL_INTERVAL_MS = 60_000;

/**
 * Removes documents past their TTL index's `expireAfterSeconds`, as mongod's TTL monitor does: only
 * single-field indexes, and only documents whose field is a date or an array holding dates (the
 * earliest counts). Removals are ordinary deletes, so they are journaled like any other.
 */
export class TtlMonitor {
  private timer: NodeJS.Timeout | undefined;
  passes = 0;
  deletedDocuments = 0;

  constructor(
    private readonly store: Store,
    private readonly log: (line: string) => void,
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => this.sweep(), intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One pass over every collection; returns how many documents it removed. */
  sweep(now = Date.now()): number {
    let removed = 0;
    for (const coll of this.store.allCollections()) {
      for (const spec of coll.indexSpecs()) {
        const fields = Object.keys(spec.key);
        const seconds: unknown = spec.expireAfterSeconds;
        if (fields.length !== 1 || typeof seconds !== 'number' || !Number.isFinite(seconds)) continue;
        const n = this.expire(coll, fields[0], now - seconds * 1000);
        if (n > 0) this.log(`ttl: removed ${n} expired documents from ${coll.ns} (index ${spec.name})`);
        removed += n;
      }
    }
    this.passes++;
    this.deletedDocuments += removed;
    return removed;
  }

  private expire(coll: Collection, field: string, cutoff: number): number {
    const expired: Document[] = [];
    for (const doc of coll.docs.values()) {
      let earliest = Infinity;
      for (const value of pathValues(doc, field))
        if (value instanceof Date) earliest = Math.min(earliest, value.getTime());
      if (earliest <= cutoff) expired.push(doc);
    }
    // A document removed by an earlier index of this pass is not removed twice.
    let n = 0;
    for (const doc of expired) {
      if (coll.byId(doc._id) === doc) {
        coll.remove(doc);
        n++;
      }
    }
    return n;
  }
}
