import { mkdir, open, readFile, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Document, EJSON, UUID, deserialize, serialize } from 'bson';
import { plainNumbers } from './bson-values.js';
import { Journal, type JournalFs, frame, message, nodeJournalFs, readFrames, syncDir } from './journal.js';
import { bsonOf } from './raw-bson.js';
import { Collection, type IndexSpec, type Store, type StoreChange } from './store.js';
import { BSON_DESERIALIZE_OPTIONS } from './wire-protocol.js';

export const CHECKPOINT_FILE = 'checkpoint.bson';
const JOURNAL_FILE = /^journal\.(\d+)$/;
const journalFile = (n: number): string => `journal.${String(n).padStart(6, '0')}`;
const LEGACY_DATA_SUFFIX = '.bson';
const LEGACY_METADATA_SUFFIX = '.metadata.json';
/** A checkpoint is taken once the journal holds this much, or as much as the last checkpoint if more. */
const DEFAULT_CHECKPOINT_BYTES = 16 * 1024 * 1024;
const CHECKPOINT_CHUNK_BYTES = 1024 * 1024;
const OPS = new Set<string>([
  'create',
  'drop',
  'rename',
  'insert',
  'replace',
  'delete',
  'clear',
  'createIndex',
  'dropIndex',
]);

export interface PersistenceOptions {
  readonly dataDir: string;
  readonly store: Store;
  readonly log: (line: string) => void;
  /** Called once when a journal write or fsync fails: the store can no longer keep what it acknowledges. */
  readonly onFatal: (error: Error) => void;
  /** Called after every journal write and fsync, so replies held for them can go out. */
  readonly onProgress: () => void;
  readonly fs?: JournalFs;
  readonly checkpointBytes?: number;
}

/** A load that cannot trust a file: the store must not start (and never start empty over data). */
export class LoadError extends Error {
  override name = 'LoadError';
  constructor(
    readonly file: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`embedded-mongo cannot load ${file}: ${reason}`, options);
  }
}

interface CollectionSnapshot {
  readonly meta: Document;
  readonly docs: Document[];
}

/**
 * Write-ahead journal plus checkpoints, as a mongod with journaling keeps its data:
 *
 * - every change is appended to `journal.NNNNNN` (one file at a time, one order for all collections)
 *   before the command that made it is answered;
 * - `checkpoint.bson` holds all collections as of the start of journal `nextJournal`; it is replaced
 *   through a temp file, fsync and rename, and only then are the journals it covers removed;
 * - start-up loads the checkpoint and replays the journals after it, ignoring a record cut off at the
 *   very end of the last one (a crash mid-append).
 *
 * Data directories of earlier versions (`<db>/<collection>.bson` + `.metadata.json`) are loaded once
 * and turned into a checkpoint.
 */
export class Persistence {
  private journalNumber = 0;
  private journalInstance: Journal | undefined;
  private checkpointing: Promise<void> | undefined;
  private lastCheckpointBytes = 0;
  private readonly fs: JournalFs;
  private readonly dataDir: string;
  private readonly store: Store;
  private readonly log: (line: string) => void;

  private constructor(private readonly options: PersistenceOptions) {
    this.fs = options.fs ?? nodeJournalFs;
    this.dataDir = options.dataDir;
    this.store = options.store;
    this.log = options.log;
  }

  /** Loads the data directory into the store and starts journaling its changes. */
  static async open(options: PersistenceOptions): Promise<Persistence> {
    const persistence = new Persistence(options);
    await persistence.load();
    return persistence;
  }

  get journal(): Journal | undefined {
    return this.journalInstance;
  }

  private async load(): Promise<void> {
    await mkdir(this.dataDir, { recursive: true });
    const entries = await readdir(this.dataDir, { withFileTypes: true }).catch((error: unknown) => {
      throw new LoadError(this.dataDir, message(error), { cause: error });
    });
    const journals = entries
      .map((entry) => ({ name: entry.name, match: JOURNAL_FILE.exec(entry.name) }))
      .filter((j) => j.match !== null)
      .map((j) => ({ name: j.name, number: Number(j.match?.[1]) }))
      .sort((a, b) => a.number - b.number);
    const checkpointPath = join(this.dataDir, CHECKPOINT_FILE);
    const checkpoint = await this.loadCheckpoint(checkpointPath);
    let legacyFiles: string[] = [];
    let nextJournal = 1;
    if (checkpoint) {
      nextJournal = checkpoint.nextJournal;
      this.lastCheckpointBytes = checkpoint.bytes;
    } else if (journals.length > 0) {
      throw new LoadError(
        checkpointPath,
        `missing, but the directory holds journal files (${journals[0].name}, ...)`,
      );
    } else {
      legacyFiles = await this.loadLegacy(entries.filter((e) => e.isDirectory()).map((e) => e.name));
    }

    let replayed = 0;
    let cutOff = false;
    const toReplay = journals.filter((j) => j.number >= nextJournal);
    for (const [i, j] of toReplay.entries()) {
      if (j.number !== nextJournal + i)
        throw new LoadError(
          join(this.dataDir, journalFile(nextJournal + i)),
          'missing between the checkpoint and later journals',
        );
      const result = await this.replay(join(this.dataDir, j.name), i === toReplay.length - 1);
      replayed += result.records;
      cutOff ||= result.cutOff;
    }
    const lastJournal = toReplay.at(-1)?.number ?? nextJournal;
    if (!checkpoint || replayed > 0 || cutOff || toReplay.length > 1) {
      // Start from a checkpoint of everything loaded: a fresh journal, and a cut-off tail gone for good.
      await this.writeCheckpoint(this.snapshot(), lastJournal + 1);
      await this.removeJournalsBefore(lastJournal + 1);
      await this.removeLegacy(legacyFiles);
      this.journalNumber = lastJournal + 1;
    } else {
      await this.removeJournalsBefore(nextJournal);
      this.journalNumber = nextJournal;
    }
    if (replayed > 0) this.log(`persistence: replayed ${replayed} journal records over the checkpoint`);
    this.journalInstance = new Journal(
      join(this.dataDir, journalFile(this.journalNumber)),
      this.dataDir,
      this.fs,
      (error) => (error ? this.options.onFatal(error) : this.progressed()),
    );
    this.store.listen((change) => this.record(change));
  }

  private record(change: StoreChange): void {
    this.journalInstance?.append(serialize(change));
  }

  private progressed(): void {
    this.options.onProgress();
    const journal = this.journalInstance;
    const threshold = Math.max(
      this.options.checkpointBytes ?? DEFAULT_CHECKPOINT_BYTES,
      this.lastCheckpointBytes,
    );
    if (journal && !this.checkpointing && journal.bytes >= threshold) {
      this.checkpoint().catch((error: unknown) =>
        this.log(`persistence: checkpoint failed: ${message(error)}`),
      );
    }
  }

  /**
   * Rotates the journal and writes everything up to that point as the new checkpoint, in the
   * background; then removes the journals it covers. One at a time.
   */
  checkpoint(): Promise<void> {
    const journal = this.journalInstance;
    if (!journal) return Promise.resolve();
    this.checkpointing ??= (async () => {
      const next = this.journalNumber + 1;
      journal.rotate(join(this.dataDir, journalFile(next)));
      this.journalNumber = next;
      // Same synchronous step as the rotation: the snapshot is exactly the journals before `next`.
      const snapshot = this.snapshot();
      await this.writeCheckpoint(snapshot, next);
      await this.removeJournalsBefore(next);
    })().finally(() => {
      this.checkpointing = undefined;
    });
    return this.checkpointing;
  }

  /** Waits for a running checkpoint, writes a final one and closes the journal (a clean shutdown). */
  async close(): Promise<void> {
    await this.checkpointing?.catch(() => undefined);
    const journal = this.journalInstance;
    if (!journal || journal.failed) return;
    try {
      await this.checkpoint();
    } finally {
      this.store.listen(undefined);
      await journal.close();
      this.journalInstance = undefined;
    }
  }

  private snapshot(): CollectionSnapshot[] {
    return this.store.allCollections().map((c) => ({
      meta: {
        db: c.db,
        name: c.name,
        options: c.options,
        uuid: c.uuid.toHexString(),
        indexes: c.indexSpecs().slice(1),
      },
      docs: [...c.docs.values()],
    }));
  }

  private async writeCheckpoint(snapshot: CollectionSnapshot[], nextJournal: number): Promise<void> {
    const path = join(this.dataDir, CHECKPOINT_FILE);
    const temp = `${path}.tmp`;
    const file = await open(temp, 'w');
    let bytes = 0;
    try {
      let chunk: Buffer[] = [];
      let chunkBytes = 0;
      const flush = async () => {
        await file.write(Buffer.concat(chunk, chunkBytes));
        bytes += chunkBytes;
        chunk = [];
        chunkBytes = 0;
      };
      const put = async (body: Uint8Array) => {
        const record = frame(body);
        chunk.push(record);
        chunkBytes += record.length;
        if (chunkBytes >= CHECKPOINT_CHUNK_BYTES) await flush();
      };
      let documents = 0;
      await put(serialize({ checkpoint: 1, nextJournal, collections: snapshot.length, at: new Date() }));
      for (const { meta, docs } of snapshot) {
        await put(serialize({ collection: meta, count: docs.length }));
        for (const doc of docs) await put(bsonOf(doc));
        documents += docs.length;
      }
      await put(serialize({ end: 1, documents }));
      await flush();
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
    await syncDir(this.dataDir, this.fs);
    this.lastCheckpointBytes = bytes;
  }

  private async loadCheckpoint(path: string): Promise<{ nextJournal: number; bytes: number } | undefined> {
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new LoadError(path, message(error), { cause: error });
    }
    const { bodies, problem } = readFrames(data);
    if (problem) throw new LoadError(path, `damaged: ${problem}`);
    const parse = (i: number): Document => {
      const body = bodies[i];
      if (!body) throw new LoadError(path, 'damaged: it ends before its end record');
      try {
        return deserialize(body, BSON_DESERIALIZE_OPTIONS);
      } catch (error) {
        throw new LoadError(path, `damaged: record ${i} does not parse: ${message(error)}`, { cause: error });
      }
    };
    const header = parse(0);
    if (
      header.checkpoint !== 1 ||
      typeof header.nextJournal !== 'number' ||
      typeof header.collections !== 'number'
    )
      throw new LoadError(path, 'not an embedded-mongo checkpoint');
    let at = 1;
    for (let c = 0; c < header.collections; c++) {
      const { collection: meta, count } = parse(at++);
      if (typeof count !== 'number' || typeof meta?.db !== 'string' || typeof meta.name !== 'string')
        throw new LoadError(path, `damaged: record ${at - 1} is not a collection header`);
      const collection = this.restoreCollection(meta as Document, path);
      for (let d = 0; d < count; d++) {
        const doc = parse(at++);
        try {
          collection.insert(doc);
        } catch (error) {
          throw new LoadError(path, `${collection.ns}: ${message(error)}`, { cause: error });
        }
      }
    }
    if (parse(at).end !== 1) throw new LoadError(path, `damaged: record ${at} is not the end record`);
    return { nextJournal: header.nextJournal, bytes: data.length };
  }

  private restoreCollection(meta: Document, file: string): Collection {
    const uuid = typeof meta.uuid === 'string' ? new UUID(meta.uuid) : undefined;
    const collection = this.store.getOrCreate(
      String(meta.db),
      String(meta.name),
      plainNumbers((meta.options as Document | undefined) ?? {}),
      uuid,
    );
    for (const spec of (meta.indexes as IndexSpec[] | undefined) ?? []) {
      if (spec.name === '_id_') continue;
      try {
        collection.createIndex(plainNumbers(spec));
      } catch (error) {
        throw new LoadError(file, `index ${String(spec.name)} of ${collection.ns}: ${message(error)}`, {
          cause: error,
        });
      }
    }
    return collection;
  }

  /** Applies one journal file; says how many records it held and whether its end was cut off. */
  private async replay(path: string, last: boolean): Promise<{ records: number; cutOff: boolean }> {
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (error) {
      throw new LoadError(path, message(error), { cause: error });
    }
    const { bodies, validBytes, problem } = readFrames(data);
    if (problem && !last) throw new LoadError(path, `damaged before later journals: ${problem}`);
    if (problem) {
      this.log(
        `persistence: ignored the last ${data.length - validBytes} bytes of ${path}: ${problem} (a write cut off by a crash, never acknowledged)`,
      );
    }
    bodies.forEach((body, i) => {
      try {
        this.apply(deserialize(body, BSON_DESERIALIZE_OPTIONS));
      } catch (error) {
        throw new LoadError(path, `record ${i} cannot be applied: ${message(error)}`, { cause: error });
      }
    });
    return { records: bodies.length, cutOff: problem !== undefined };
  }

  private apply(change: Document): void {
    if (typeof change.op !== 'string' || !OPS.has(change.op))
      throw new Error(`unknown change ${String(change.op)}`);
    const c = change as StoreChange;
    if (c.op === 'create') {
      this.store.getOrCreate(c.db, c.name, c.options, new UUID(c.uuid));
      return;
    }
    if (c.op === 'drop') {
      this.store.drop(c.db, c.name);
      return;
    }
    const coll = this.store.get(c.db, c.name);
    if (!coll) throw new Error(`${c.op} on ${c.db}.${c.name}, which does not exist`);
    const byId = (id: unknown): Document => {
      const doc = coll.byId(id);
      if (!doc) throw new Error(`${c.op} of a document of ${coll.ns} that does not exist`);
      return doc;
    };
    switch (c.op) {
      case 'rename':
        this.store.rename(coll, c.toDb, c.toName);
        break;
      case 'insert':
        coll.insert(c.doc);
        break;
      case 'replace':
        coll.replace(byId(c.doc._id), c.doc);
        break;
      case 'delete':
        coll.remove(byId(c.id));
        break;
      case 'clear':
        coll.clear();
        break;
      case 'createIndex':
        coll.createIndex(c.spec);
        break;
      case 'dropIndex':
        if (c.index === '*') coll.dropAllIndexes();
        else coll.dropIndex(c.index);
        break;
    }
  }

  private async removeJournalsBefore(next: number): Promise<void> {
    let removed = false;
    for (const name of await readdir(this.dataDir)) {
      const match = JOURNAL_FILE.exec(name);
      if (match && Number(match[1]) < next) {
        await rm(join(this.dataDir, name), { force: true });
        removed = true;
      }
    }
    if (removed) await syncDir(this.dataDir, this.fs);
  }

  /**
   * Collections of a data directory written before the journal: `<db>/<collection>.bson`
   * (concatenated BSON documents) and `.metadata.json` (canonical EJSON). Returns the files read.
   */
  private async loadLegacy(dbDirs: string[]): Promise<string[]> {
    const files: string[] = [];
    const read = async <T>(path: string, as: (data: Buffer) => T): Promise<T | undefined> => {
      try {
        const data = await readFile(path);
        files.push(path);
        return as(data);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new LoadError(path, message(error), { cause: error });
      }
    };
    for (const dirName of dbDirs) {
      const db = decodeURIComponent(dirName);
      const dbDir = join(this.dataDir, dirName);
      const names = new Set<string>();
      for (const f of await readdir(dbDir).catch((error: unknown) => {
        throw new LoadError(dbDir, message(error), { cause: error });
      })) {
        if (f.endsWith(LEGACY_DATA_SUFFIX)) names.add(f.slice(0, -LEGACY_DATA_SUFFIX.length));
        else if (f.endsWith(LEGACY_METADATA_SUFFIX)) names.add(f.slice(0, -LEGACY_METADATA_SUFFIX.length));
      }
      for (const file of names) {
        const base = join(dbDir, file);
        const meta =
          (await read(base + LEGACY_METADATA_SUFFIX, (data) => {
            try {
              return EJSON.parse(data.toString('utf8'), { relaxed: false }) as Document;
            } catch (error) {
              throw new LoadError(base + LEGACY_METADATA_SUFFIX, `not valid EJSON: ${message(error)}`, {
                cause: error,
              });
            }
          })) ?? {};
        const collection = this.restoreCollection(
          { ...meta, db, name: decodeURIComponent(file) },
          base + LEGACY_METADATA_SUFFIX,
        );
        const data = (await read(base + LEGACY_DATA_SUFFIX, (d) => d)) ?? Buffer.alloc(0);
        for (let offset = 0; offset < data.length;) {
          const size = data.length - offset >= 4 ? data.readInt32LE(offset) : 0;
          if (size < 5 || offset + size > data.length)
            throw new LoadError(base + LEGACY_DATA_SUFFIX, `damaged: a document cut off at byte ${offset}`);
          try {
            collection.insert(deserialize(data.subarray(offset, offset + size), BSON_DESERIALIZE_OPTIONS));
          } catch (error) {
            throw new LoadError(base + LEGACY_DATA_SUFFIX, `document at byte ${offset}: ${message(error)}`, {
              cause: error,
            });
          }
          offset += size;
        }
      }
    }
    if (files.length > 0)
      this.log(`persistence: loaded ${files.length} files of the earlier layout; they become a checkpoint`);
    return files;
  }

  private async removeLegacy(files: string[]): Promise<void> {
    const dirs = new Set<string>();
    for (const file of files) {
      await rm(file, { force: true });
      dirs.add(join(file, '..'));
    }
    for (const dir of dirs) await rmdir(dir).catch(() => undefined);
  }
}
