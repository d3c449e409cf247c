import { mkdir, readFile, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Document, EJSON, UUID, deserialize, serialize } from 'bson';
import { Collection, type IndexSpec, type Store } from './store.js';
import { BSON_DESERIALIZE_OPTIONS } from './wire-protocol.js';

const DEBOUNCE_MS = 150;
const DATA_SUFFIX = '.bson';
const METADATA_SUFFIX = '.metadata.json';

/**
 * Each stored document's BSON, kept from its first save (or its load): stored documents are never
 * mutated, so a save re-serialises only the documents written since the last one.
 */
const encoded = new WeakMap<Document, Uint8Array>();
const encode = (doc: Document): Uint8Array => {
  let bytes = encoded.get(doc);
  if (!bytes) encoded.set(doc, (bytes = serialize(doc)));
  return bytes;
};

/**
 * One `<db>/<collection>.bson` (concatenated BSON documents, as mongodump writes them) plus a
 * `.metadata.json` with options and index specs per collection. Only changed collections are
 * rewritten, each through a temp file and a rename, so a crash never leaves a half-written file.
 */
export class Persistence {
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly dataDir: string,
    private readonly store: Store,
    private readonly log: (line: string) => void,
  ) {}

  /** Restores every collection found under the data directory. */
  async load(): Promise<void> {
    await mkdir(this.dataDir, { recursive: true });
    for (const dbEntry of await readdir(this.dataDir, { withFileTypes: true })) {
      if (!dbEntry.isDirectory()) continue;
      const db = decodeURIComponent(dbEntry.name);
      const dbDir = join(this.dataDir, dbEntry.name);
      const files = await readdir(dbDir);
      const names = new Set(
        files
          .filter((f) => f.endsWith(DATA_SUFFIX) || f.endsWith(METADATA_SUFFIX))
          .map((f) => f.slice(0, -(f.endsWith(DATA_SUFFIX) ? DATA_SUFFIX : METADATA_SUFFIX).length)),
      );
      for (const file of names) {
        const collection = await this.loadCollection(db, decodeURIComponent(file), join(dbDir, file));
        this.store.restore(collection);
      }
    }
  }

  private async loadCollection(db: string, name: string, base: string): Promise<Collection> {
    const metaText = await readFile(base + METADATA_SUFFIX, 'utf8').catch(() => undefined);
    const meta = metaText ? (EJSON.parse(metaText, { relaxed: false }) as Document) : {};
    const uuid = typeof meta.uuid === 'string' ? new UUID(meta.uuid) : undefined;
    const collection = new Collection(db, name, (meta.options as Document | undefined) ?? {}, uuid);
    for (const spec of (meta.indexes as IndexSpec[] | undefined) ?? []) {
      if (spec.name !== '_id_') collection.createIndex(spec);
    }
    const data = await readFile(base + DATA_SUFFIX).catch(() => Buffer.alloc(0));
    for (let offset = 0; offset + 4 <= data.length;) {
      const size = data.readInt32LE(offset);
      if (size < 5 || offset + size > data.length) {
        this.log(`persistence: ${db}.${name} is truncated at byte ${offset}; the rest is ignored`);
        break;
      }
      try {
        const bytes = data.subarray(offset, offset + size);
        const doc = deserialize(bytes, BSON_DESERIALIZE_OPTIONS);
        collection.insert(doc);
        encoded.set(doc, bytes);
      } catch (error) {
        this.log(
          `persistence: skipped a document of ${db}.${name}: ${error instanceof Error ? error.message : error}`,
        );
      }
      offset += size;
    }
    return collection;
  }

  markDirty(db: string, name: string): void {
    this.dirty.add(JSON.stringify([db, name]));
    // Throttled rather than reset on every change, so a steady write load still gets saved.
    this.timer ??= setTimeout(() => {
      this.flush().catch(() => undefined);
    }, DEBOUNCE_MS).unref();
  }

  /** Writes every changed collection now; resolves when the data is on disk. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const run = this.flushing.then(() => this.writeDirty());
    this.flushing = run.catch(() => undefined);
    return run;
  }

  private async writeDirty(): Promise<void> {
    const keys = [...this.dirty];
    this.dirty.clear();
    const failures: string[] = [];
    for (const key of keys) {
      const [db, name] = JSON.parse(key) as [string, string];
      try {
        await this.writeCollection(db, name);
      } catch (error) {
        this.dirty.add(key);
        failures.push(`${db}.${name}: ${error instanceof Error ? error.message : error}`);
      }
    }
    if (failures.length > 0) {
      this.log(`persistence: could not save ${failures.join('; ')}`);
      throw new Error(`embedded-mongo could not save ${failures.join('; ')}`);
    }
  }

  private async writeCollection(db: string, name: string): Promise<void> {
    const dbDir = join(this.dataDir, encodeURIComponent(db));
    const base = join(dbDir, encodeURIComponent(name));
    const collection = this.store.get(db, name);
    if (!collection) {
      await rm(base + DATA_SUFFIX, { force: true });
      await rm(base + METADATA_SUFFIX, { force: true });
      await rmdir(dbDir).catch(() => undefined);
      return;
    }
    // Snapshot synchronously: stored documents are immutable, so the copy is consistent.
    const data = Buffer.concat([...collection.docs.values()].map(encode));
    const metadata = EJSON.stringify(
      {
        collectionName: name,
        type: 'collection',
        uuid: collection.uuid.toHexString(),
        options: collection.options,
        indexes: collection.indexSpecs(),
      },
      undefined,
      2,
      { relaxed: false },
    );
    await mkdir(dbDir, { recursive: true });
    await atomicWrite(base + DATA_SUFFIX, data);
    await atomicWrite(base + METADATA_SUFFIX, metadata);
  }
}

async function atomicWrite(path: string, data: string | Buffer): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, data);
  await rename(temp, path);
}
