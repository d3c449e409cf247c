import { type Document, ObjectId, UUID } from 'bson';
import { Query } from 'mingo';
import type { CollationSpec } from 'mingo/types';
import { isEqual } from 'mingo/util';
import { canonicalKey, formatDocument, isPlainObject, pathValues, plainNumbers } from './bson-values.js';
import { CommandError, invalidNamespace } from './errors.js';
import { binaryQuery } from './mingo-options.js';
import { SimpleFilter } from './simple-filter.js';

export interface IndexSpec extends Document {
  v: number;
  key: Document;
  name: string;
  unique?: boolean;
  sparse?: boolean;
  partialFilterExpression?: Document;
}

/**
 * One change to the data, in the order it happened: what the journal records and what replaying it
 * applies again. Documents are whole (an update records the document it produced).
 */
export type StoreChange =
  | { op: 'create'; db: string; name: string; options: Document; uuid: string }
  | { op: 'drop'; db: string; name: string }
  | { op: 'rename'; db: string; name: string; toDb: string; toName: string }
  | { op: 'insert'; db: string; name: string; doc: Document }
  | { op: 'replace'; db: string; name: string; doc: Document }
  | { op: 'delete'; db: string; name: string; id: unknown }
  | { op: 'clear'; db: string; name: string }
  | { op: 'createIndex'; db: string; name: string; spec: IndexSpec }
  | { op: 'dropIndex'; db: string; name: string; index: string };

export type ChangeListener = (change: StoreChange) => void;

const ID_INDEX: IndexSpec = { v: 2, key: { _id: 1 }, name: '_id_' };

export const queryOptions = (collation?: unknown) =>
  isPlainObject(collation) && typeof collation.locale === 'string' && collation.locale !== 'simple'
    ? { collation: collation as unknown as CollationSpec }
    : {};

export function duplicateKeyError(ns: string, index: IndexSpec, keyValue: Document): CommandError {
  return new CommandError(
    11000,
    'DuplicateKey',
    `E11000 duplicate key error collection: ${ns} index: ${index.name} dup key: ${formatDocument(keyValue)}`,
    { keyPattern: index.key, keyValue },
  );
}

/** A value an index lookup takes from a filter: one MongoDB compares by value alone in an index. */
const isLookupValue = (value: unknown): boolean =>
  typeof value === 'string' ||
  typeof value === 'boolean' ||
  value instanceof ObjectId ||
  value instanceof Date;

/**
 * Keeps index key → the `_id` keys of the documents holding it (one for a unique index), so an
 * equality on an indexed field finds its documents by lookup, not by scanning, and duplicates are
 * found the same way.
 */
class KeyIndex {
  /** Unique index: key → owning `_id` key. */
  readonly owners = new Map<string, string>();
  /** Non-unique index: key → `_id` keys, in the order they got the key. */
  private readonly holders = new Map<string, Set<string>>();
  private readonly fields: string[];
  private readonly partial: Query | undefined;
  readonly unique: boolean;
  /**
   * A single-field index whose path has no numeric part: an equality on its field with a plain value
   * matches exactly the documents holding that key (a numeric part could also name a field "0" of an
   * embedded document, which the index key does not reach).
   */
  private readonly exactField: string | undefined;

  /** The top-level fields the index's paths start from. */
  private readonly roots: string[];

  constructor(readonly spec: IndexSpec) {
    this.fields = Object.keys(spec.key);
    this.roots = [...new Set(this.fields.map((field) => field.split('.')[0]))];
    this.partial = spec.partialFilterExpression ? new Query(spec.partialFilterExpression) : undefined;
    this.unique = spec.unique === true;
    const [only] = this.fields;
    this.exactField =
      this.fields.length === 1 && !this.partial && !only.split('.').some((part) => /^\d+$/.test(part))
        ? only
        : undefined;
  }

  /**
   * The index keys a filter pins when it gives every field of the index one plain value (a string,
   * boolean, ObjectId or Date, directly or as `$eq`; on a single-field index also `$in` of such
   * values); undefined when the index cannot answer it. A partial index holds only some documents,
   * so it never answers.
   */
  lookupKeys(filter: Document): string[] | undefined {
    if (this.partial) return undefined;
    const values: unknown[] = [];
    for (const field of this.fields) {
      let value: unknown = filter[field];
      if (isPlainObject(value) && Object.keys(value).length === 1) {
        if ('$eq' in value) value = value.$eq;
        else if (this.fields.length === 1 && Array.isArray(value.$in) && value.$in.every(isLookupValue))
          return [...new Set(value.$in.map((v) => canonicalKey([v])))];
      }
      if (!isLookupValue(value)) return undefined;
      values.push(value);
    }
    return [canonicalKey(values)];
  }

  /** The `_id` keys of the documents holding `key`. */
  idKeysOf(key: string): Iterable<string> {
    if (!this.unique) return this.holders.get(key) ?? [];
    const owner = this.owners.get(key);
    return owner === undefined ? [] : [owner];
  }

  /**
   * How many documents match `filter` when the index alone decides it (an equality with a plain value
   * on its one field, nothing else); undefined otherwise.
   */
  exactCount(filter: Document): number | undefined {
    const keys = this.decidingKeys(filter);
    if (keys?.length !== 1) return undefined;
    const [key] = keys;
    return this.unique ? (this.owners.has(key) ? 1 : 0) : (this.holders.get(key)?.size ?? 0);
  }

  /**
   * The keys whose documents are exactly those matching `filter`, when the index alone decides it (an
   * equality, or `$in`, of plain values on its one field, and nothing else); undefined otherwise.
   */
  decidingKeys(filter: Document): string[] | undefined {
    return this.decides(filter) ? this.lookupKeys(filter) : undefined;
  }

  /** Whether the keys {@link lookupKeys} gives for `filter` name exactly its matches (`filter` is on the index's one field alone). */
  decides(filter: Document): boolean {
    const field = this.exactField;
    return field !== undefined && Object.keys(filter).length === 1 && field in filter;
  }

  /**
   * Every index key of the document (several for array fields), each with its values in the order of
   * the index's fields (for a duplicate key error's message).
   */
  keysOf(doc: Document): Map<string, unknown[]> {
    const keys = new Map<string, unknown[]>();
    if (this.partial && !this.partial.test(doc)) return keys;
    const perField = this.fields.map((field) => pathValues(doc, field));
    if (this.spec.sparse && perField.every((values) => values.every((v) => v === undefined))) return keys;
    let combos: unknown[][] = [[]];
    for (const values of perField)
      combos = combos.flatMap((combo) => values.map((v) => [...combo, v ?? null]));
    for (const combo of combos) keys.set(canonicalKey(combo), combo);
    return keys;
  }

  /**
   * Whether a new version of a document has the keys of the old one for certain without working them
   * out: it holds the very same values (stored documents are never mutated, and an update shares what
   * it leaves alone) in every top-level field the index's paths start from. A partial index's filter
   * may read other fields, so it never knows.
   */
  keepsKeys(oldDoc: Document, newDoc: Document): boolean {
    return this.partial === undefined && this.roots.every((root) => oldDoc[root] === newDoc[root]);
  }

  /** Throws when `doc` (whose `_id` key is `idKey`) would duplicate a key of a unique index. */
  check(keys: Map<string, unknown[]>, idKey: string, ns: string): void {
    if (!this.unique) return;
    for (const [key, values] of keys) {
      const owner = this.owners.get(key);
      if (owner === undefined || owner === idKey) continue;
      const keyValue: Document = {};
      this.fields.forEach((field, i) => (keyValue[field] = values[i]));
      throw duplicateKeyError(ns, this.spec, keyValue);
    }
  }

  add(keys: Iterable<string>, idKey: string): void {
    for (const key of keys) {
      if (this.unique) this.owners.set(key, idKey);
      else {
        let ids = this.holders.get(key);
        if (!ids) this.holders.set(key, (ids = new Set()));
        ids.add(idKey);
      }
    }
  }

  /** From the keys of `oldDoc` to `keys` (the new version's), for the document `idKey`. */
  swap(oldDoc: Document, keys: readonly string[], idKey: string): void {
    const old = [...this.keysOf(oldDoc).keys()];
    // Most updates leave most indexed fields alone.
    if (old.length === keys.length && old.every((key, i) => key === keys[i])) return;
    const kept = new Set(keys);
    this.removeKeys(
      old.filter((key) => !kept.has(key)),
      idKey,
    );
    const had = new Set(old);
    this.add(
      keys.filter((key) => !had.has(key)),
      idKey,
    );
  }

  remove(doc: Document, idKey: string): void {
    this.removeKeys(this.keysOf(doc).keys(), idKey);
  }

  private removeKeys(keys: Iterable<string>, idKey: string): void {
    for (const key of keys) {
      if (this.unique) {
        if (this.owners.get(key) === idKey) this.owners.delete(key);
        continue;
      }
      const ids = this.holders.get(key);
      if (ids?.delete(idKey) && ids.size === 0) this.holders.delete(key);
    }
  }

  clear(): void {
    this.owners.clear();
    this.holders.clear();
  }
}

export class Collection {
  /** Documents by canonical `_id`, in insertion order. Stored documents are never mutated: writes swap in copies. */
  readonly docs = new Map<string, Document>();
  private readonly indexes: IndexSpec[] = [];
  /** The indexes that answer lookups and enforce uniqueness (all but `_id`'s): unique ones first. */
  private readonly keyed: KeyIndex[] = [];
  /** Set by the store the collection belongs to; a detached collection reports nothing. */
  listener: ChangeListener | undefined;

  constructor(
    readonly db: string,
    readonly name: string,
    readonly options: Document = {},
    readonly uuid: UUID = new UUID(),
  ) {}

  get ns(): string {
    return `${this.db}.${this.name}`;
  }

  /**
   * Matching documents, in natural order when the collection is scanned. An `_id` equality or `$in`, or
   * an equality on every field of an index (`$in` on a single-field one), only looks at the documents
   * those name (in the order the index holds them); anything else scans the collection.
   */
  match(filter: Document = {}, collation?: unknown, limit = Infinity): Document[] {
    const options = queryOptions(collation);
    const binary = options.collation === undefined;
    // A simple filter is decided without mingo; mingo (compiled only if needed) decides the rest.
    const simple = binary ? SimpleFilter.compile(filter) : undefined;
    const compile = () => (binary ? binaryQuery(filter) : new Query(filter, options));
    const { docs, decided } = this.candidates(filter, binary);
    let query = !decided && simple === undefined && Object.keys(filter).length > 0 ? compile() : undefined;
    const out: Document[] = [];
    for (const doc of docs) {
      if (out.length >= limit) break;
      if (decided) {
        out.push(doc);
        continue;
      }
      let matches = simple?.test(doc);
      if (matches === undefined) {
        if (simple) query ??= compile();
        matches = query?.test(doc) ?? true;
      }
      if (matches) out.push(doc);
    }
    return out;
  }

  /** The documents `match` looks at; `decided`: all of them match (an index alone decided the filter). */
  private candidates(
    filter: Document,
    binaryCollation: boolean,
  ): { docs: Iterable<Document>; decided?: boolean } {
    const id: unknown = filter._id;
    if (id === undefined && binaryCollation) {
      // Under a case-insensitive collation, equal strings need not have equal index keys.
      for (const index of this.keyed) {
        const keys = index.lookupKeys(filter);
        if (keys === undefined) continue;
        const found = new Set<Document>();
        for (const key of keys) {
          for (const idKey of index.idKeysOf(key)) {
            const doc = this.docs.get(idKey);
            if (doc) found.add(doc);
          }
        }
        return { docs: found, decided: index.decides(filter) };
      }
    }
    return { docs: this.idCandidates(id) };
  }

  private idCandidates(id: unknown): Iterable<Document> {
    if (id === undefined || id instanceof RegExp) return this.docs.values();
    let ids: unknown[];
    if (!isPlainObject(id) || !Object.keys(id).some((k) => k.startsWith('$'))) ids = [id];
    else if (Object.keys(id).length === 1 && '$eq' in id) ids = [id.$eq];
    else if (Object.keys(id).length === 1 && Array.isArray(id.$in)) ids = id.$in;
    else return this.docs.values();
    if (ids.some((v) => v instanceof RegExp || v === null || Array.isArray(v))) return this.docs.values();
    const found = new Set<Document>();
    for (const value of ids) {
      const doc = this.docs.get(canonicalKey(value));
      if (doc) found.add(doc);
    }
    return found;
  }

  insert(doc: Document): void {
    const idKey = canonicalKey(doc._id);
    if (this.docs.has(idKey)) throw duplicateKeyError(this.ns, ID_INDEX, { _id: doc._id });
    const added = this.indexKeysFor(doc, idKey);
    this.docs.set(idKey, doc);
    for (const [index, keys] of added) index.add(keys, idKey);
    this.listener?.({ op: 'insert', db: this.db, name: this.name, doc });
  }

  /** Swaps in the new version of a document (same `_id`), enforcing unique indexes first. */
  replace(oldDoc: Document, newDoc: Document): void {
    const idKey = canonicalKey(oldDoc._id);
    if (!isEqual(oldDoc._id, newDoc._id)) throw new Error('bug: replace must keep _id');
    // Indexes whose fields the update left alone keep their keys: neither version's are worked out.
    const added = this.indexKeysFor(newDoc, idKey, oldDoc);
    this.docs.set(idKey, newDoc);
    // Only the keys that changed: a document keeps its place among the holders of a key it keeps.
    for (const [index, keys] of added) index.swap(oldDoc, keys, idKey);
    this.listener?.({ op: 'replace', db: this.db, name: this.name, doc: newDoc });
  }

  remove(doc: Document): void {
    const idKey = canonicalKey(doc._id);
    for (const index of this.keyed) index.remove(doc, idKey);
    this.docs.delete(idKey);
    this.listener?.({ op: 'delete', db: this.db, name: this.name, id: doc._id });
  }

  /** The stored document with this `_id`. */
  byId(id: unknown): Document | undefined {
    return this.docs.get(canonicalKey(id));
  }

  clear(): void {
    this.docs.clear();
    for (const index of this.keyed) index.clear();
    this.listener?.({ op: 'clear', db: this.db, name: this.name });
  }

  /**
   * How many documents match `filter`: read off an index when one alone decides it (an equality with a
   * plain value on the field of a single-field index, nothing else), without looking at a document.
   */
  count(filter: Document = {}, collation?: unknown): number {
    if (Object.keys(filter).length === 0) return this.docs.size;
    if (queryOptions(collation).collation === undefined) {
      for (const index of this.keyed) {
        const n = index.exactCount(filter);
        if (n !== undefined) return n;
      }
    }
    return this.match(filter, collation).length;
  }

  /**
   * Each index's keys of `doc`, checked against the unique indexes (throws a duplicate key error);
   * `replacing` a version of it, only the indexes whose keys may differ from that version's.
   */
  private indexKeysFor(doc: Document, idKey: string, replacing?: Document): Array<[KeyIndex, string[]]> {
    const out: Array<[KeyIndex, string[]]> = [];
    for (const index of this.keyed) {
      if (replacing && index.keepsKeys(replacing, doc)) continue;
      const keys = index.keysOf(doc);
      index.check(keys, idKey, this.ns);
      out.push([index, [...keys.keys()]]);
    }
    return out;
  }

  indexSpecs(): IndexSpec[] {
    return [ID_INDEX, ...this.indexes];
  }

  /** Returns false when an identical index already exists. */
  createIndex(requested: IndexSpec): boolean {
    const spec = plainNumbers(requested);
    if (canonicalKey(spec.key) === canonicalKey(ID_INDEX.key)) return false;
    if (spec.name === ID_INDEX.name) {
      throw new CommandError(
        86,
        'IndexKeySpecsConflict',
        `The index name '_id_' is reserved for the _id index`,
      );
    }
    const sameName = this.indexes.find((i) => i.name === spec.name);
    const sameKey = this.indexes.find((i) => canonicalKey(i.key) === canonicalKey(spec.key));
    if (sameName) {
      if (sameKey === sameName && Boolean(sameName.unique) === Boolean(spec.unique)) return false;
      throw new CommandError(
        86,
        'IndexKeySpecsConflict',
        `An existing index has the same name as the requested index. Requested index: ${formatDocument(spec)}, existing index: ${formatDocument(sameName)}`,
      );
    }
    if (sameKey) {
      throw new CommandError(
        85,
        'IndexOptionsConflict',
        `Index already exists with a different name: ${sameKey.name}`,
      );
    }
    // TTL indexes answer no lookups here (the TTL monitor scans by date): not kept.
    if (spec.unique || spec.expireAfterSeconds === undefined) {
      const index = new KeyIndex(spec);
      for (const [idKey, doc] of this.docs) {
        const keys = index.keysOf(doc);
        index.check(keys, idKey, this.ns);
        index.add(keys.keys(), idKey);
      }
      // Unique indexes first: they answer a lookup with one document at most.
      if (index.unique) this.keyed.splice(this.keyed.filter((i) => i.unique).length, 0, index);
      else this.keyed.push(index);
    }
    this.indexes.push(spec);
    this.listener?.({ op: 'createIndex', db: this.db, name: this.name, spec });
    return true;
  }

  dropIndex(name: string): void {
    if (name === ID_INDEX.name) throw new CommandError(72, 'InvalidOptions', 'cannot drop _id index');
    const at = this.indexes.findIndex((i) => i.name === name);
    if (at < 0) throw new CommandError(27, 'IndexNotFound', `index not found with name [${name}]`);
    this.indexes.splice(at, 1);
    const k = this.keyed.findIndex((i) => i.spec.name === name);
    if (k >= 0) this.keyed.splice(k, 1);
    this.listener?.({ op: 'dropIndex', db: this.db, name: this.name, index: name });
  }

  indexNameForKey(key: Document): string {
    const found = this.indexSpecs().find((i) => canonicalKey(i.key) === canonicalKey(key));
    if (!found)
      throw new CommandError(27, 'IndexNotFound', `can't find index with key: ${formatDocument(key)}`);
    return found.name;
  }

  dropAllIndexes(): void {
    this.indexes.length = 0;
    this.keyed.length = 0;
    this.listener?.({ op: 'dropIndex', db: this.db, name: this.name, index: '*' });
  }
}

const INVALID_DB_CHARS = /[/\\. "$\0]/;

export function validateNames(db: string, collection?: string): void {
  if (db === '' || INVALID_DB_CHARS.test(db) || db.length > 63)
    throw invalidNamespace(`Invalid database name: '${db}'`);
  if (collection === undefined) return;
  if (collection === '' || collection.includes('\0') || collection.includes('$')) {
    throw invalidNamespace(`Invalid collection name: ${collection}`);
  }
}

/** All databases and collections of the server; reports every change to its listener, in order. */
export class Store {
  private readonly databases = new Map<string, Map<string, Collection>>();
  private listener: ChangeListener | undefined;

  /** Receives every change from now on (persistence journals them); undefined stops reporting. */
  listen(listener: ChangeListener | undefined): void {
    this.listener = listener;
    for (const db of this.databases.values()) for (const coll of db.values()) coll.listener = listener;
  }

  get(db: string, name: string): Collection | undefined {
    return this.databases.get(db)?.get(name);
  }

  getOrCreate(db: string, name: string, options: Document = {}, uuid?: UUID): Collection {
    const existing = this.get(db, name);
    if (existing) return existing;
    validateNames(db, name);
    const collection = new Collection(db, name, options, uuid);
    this.attach(collection);
    this.listener?.({ op: 'create', db, name, options, uuid: collection.uuid.toHexString() });
    return collection;
  }

  private attach(collection: Collection): void {
    let collections = this.databases.get(collection.db);
    if (!collections) this.databases.set(collection.db, (collections = new Map()));
    collections.set(collection.name, collection);
    collection.listener = this.listener;
  }

  drop(db: string, name: string): boolean {
    const collections = this.databases.get(db);
    const collection = collections?.get(name);
    if (!collections || !collection) return false;
    collections.delete(name);
    collection.listener = undefined;
    if (collections.size === 0) this.databases.delete(db);
    this.listener?.({ op: 'drop', db, name });
    return true;
  }

  dropDatabase(db: string): void {
    for (const name of this.collectionNames(db)) this.drop(db, name);
  }

  databaseNames(): string[] {
    return [...this.databases.keys()];
  }

  collectionNames(db: string): string[] {
    return [...(this.databases.get(db)?.keys() ?? [])];
  }

  collections(db: string): Collection[] {
    return [...(this.databases.get(db)?.values() ?? [])];
  }

  allCollections(): Collection[] {
    return [...this.databases.values()].flatMap((collections) => [...collections.values()]);
  }

  /** Moves a collection (documents and indexes) to a new namespace, reported as one change. */
  rename(from: Collection, db: string, name: string): Collection {
    validateNames(db, name);
    const target = new Collection(db, name, from.options);
    for (const spec of from.indexSpecs().slice(1)) target.createIndex(spec);
    for (const doc of from.docs.values()) target.insert(doc);
    const listener = this.listener;
    this.listener = undefined;
    try {
      this.drop(from.db, from.name);
      this.attach(target);
    } finally {
      this.listener = listener;
      target.listener = listener;
    }
    this.listener?.({ op: 'rename', db: from.db, name: from.name, toDb: db, toName: name });
    return target;
  }
}
