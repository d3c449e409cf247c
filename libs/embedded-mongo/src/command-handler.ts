import { hostname } from 'node:os';
import { type Document, Long, ObjectId, UUID, calculateObjectSize } from 'bson';
import { Aggregator, Query } from 'mingo';
import { MingoError, cloneDeep, compare } from 'mingo/util';
import { canonicalKey, isPlainObject, pathValues, plainNumbers } from './bson-values.js';
import { CursorRegistry, cursorReply } from './cursors.js';
import { binaryQuery } from './mingo-options.js';
import type { EncodedReply } from './raw-bson.js';
import { CommandError, badValue, namespaceNotFound, typeMismatch } from './errors.js';
import { type Collection, type IndexSpec, type Store, queryOptions, validateNames } from './store.js';
import { applySimpleUpdate } from './simple-update.js';
import {
  type UpdateContext,
  type UpdateSpec,
  applyUpdate,
  parseUpdate,
  upsertDocument,
  withId,
} from './update.js';
import { MAX_BSON_OBJECT_SIZE, MAX_MESSAGE_SIZE_BYTES } from './wire-protocol.js';

export const SERVER_VERSION = '7.0.0';
const MAX_WRITE_BATCH_SIZE = 100_000;

export interface ConnectionInfo {
  readonly connectionId: number;
  readonly remote: string;
}

export interface ServerInfo {
  readonly host: string;
  readonly port: number;
  readonly startedAt: Date;
  /** Whether writes are journaled to a data directory. */
  readonly persistent?: boolean;
  connections(): { current: number; totalCreated: number };
  /** The TTL monitor's counters, reported as mongod's `metrics.ttl`. */
  ttl?(): { passes: number; deletedDocuments: number };
  log(line: string): void;
}

type Handler = (cmd: Document, db: string, conn: ConnectionInfo) => Document | EncodedReply;

/** Fields drivers add to any command; never taken as command options. */
const GENERIC_FIELDS = new Set([
  'lsid',
  'txnNumber',
  'autocommit',
  'startTransaction',
  'writeConcern',
  'readConcern',
  'apiVersion',
  'apiStrict',
  'apiDeprecationErrors',
  'comment',
  'maxTimeMS',
]);

// Pipeline stages known to build new documents rather than modify their input in place.
const NON_MUTATING_STAGES = new Set([
  '$match',
  '$sort',
  '$skip',
  '$limit',
  '$count',
  '$group',
  '$sortByCount',
]);

/** Runs one command synchronously against the in-memory store, so every single-document write is atomic. */
export class CommandHandler {
  private readonly cursors = new CursorRegistry();
  private readonly handlers = new Map<string, Handler>();

  constructor(
    private readonly store: Store,
    private readonly server: ServerInfo,
  ) {
    const on = (names: string[], handler: Handler) =>
      names.forEach((n) => this.handlers.set(n, handler.bind(this)));
    on(['hello'], (_c, _d, conn) => this.hello(conn, false));
    on(['isMaster', 'ismaster'], (_c, _d, conn) => this.hello(conn, true));
    on(['ping', 'endSessions', 'killAllSessions', 'killSessions', 'refreshSessions'], () => ({ ok: 1 }));
    on(['abortTransaction', 'commitTransaction'], () => ({ ok: 1 }));
    on(['buildInfo', 'buildinfo'], () => this.buildInfo());
    on(['getParameter'], this.getParameter);
    on(['hostInfo'], () => this.hostInfo());
    on(['serverStatus'], () => this.serverStatus());
    on(['whatsmyuri'], (_c, _d, conn) => ({ you: conn.remote, ok: 1 }));
    on(['connectionStatus'], () => ({
      authInfo: { authenticatedUsers: [], authenticatedUserRoles: [] },
      ok: 1,
    }));
    on(['getCmdLineOpts'], () => ({ argv: ['embedded-mongo'], parsed: {}, ok: 1 }));
    on(['startSession'], () => ({ id: { id: new UUID() }, timeoutMinutes: 30, ok: 1 }));
    on(['replSetGetStatus'], () => {
      throw new CommandError(76, 'NoReplicationEnabled', 'not running with --replSet');
    });
    on(['listCommands'], () => ({
      commands: Object.fromEntries([...this.handlers.keys()].map((n) => [n, { help: '' }])),
      ok: 1,
    }));
    on(['listDatabases'], this.listDatabases);
    on(['dbStats'], this.dbStats);
    on(['collStats'], this.collStats);
    on(['insert'], this.insert);
    on(['find'], this.find);
    on(['getMore'], this.getMore);
    on(['killCursors'], this.killCursors);
    on(['update'], this.update);
    on(['delete'], this.delete);
    on(['findAndModify'], this.findAndModify);
    on(['count'], this.count);
    on(['distinct'], this.distinct);
    on(['aggregate'], this.aggregate);
    on(['create'], this.create);
    on(['createIndexes'], this.createIndexes);
    on(['listIndexes'], this.listIndexes);
    on(['dropIndexes', 'deleteIndexes'], this.dropIndexes);
    on(['listCollections'], this.listCollections);
    on(['drop'], this.drop);
    on(['dropDatabase'], this.dropDatabase);
    on(['renameCollection'], this.renameCollection);
  }

  handle(db: string, cmd: Document, conn: ConnectionInfo): Document | EncodedReply {
    const name = Object.keys(cmd)[0] ?? '';
    const handler = this.handlers.get(name);
    if (!handler) {
      this.server.log(`unknown command '${name}' (connection ${conn.connectionId})`);
      return new CommandError(59, 'CommandNotFound', `no such command: '${name}'`).toReply();
    }
    try {
      return handler(cmd, db, conn);
    } catch (error) {
      const failure = toCommandError(error);
      if (failure.code === 1)
        this.server.log(`command ${name} failed: ${error instanceof Error ? error.stack : error}`);
      return failure.toReply();
    }
  }

  private hello(conn: ConnectionInfo, legacy: boolean): Document {
    return {
      helloOk: true,
      [legacy ? 'ismaster' : 'isWritablePrimary']: true,
      maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
      maxMessageSizeBytes: MAX_MESSAGE_SIZE_BYTES,
      maxWriteBatchSize: MAX_WRITE_BATCH_SIZE,
      localTime: new Date(),
      // No `logicalSessionTimeoutMinutes`: the store has no sessions to offer (no transactions, no
      // retryable writes on a standalone), and advertising them made the driver put an `lsid` into
      // every command for the store to decode. An explicit session then fails in the driver with
      // "Current topology does not support sessions".
      connectionId: conn.connectionId,
      minWireVersion: 0,
      maxWireVersion: 21,
      readOnly: false,
      ok: 1,
    };
  }

  private buildInfo(): Document {
    return {
      version: SERVER_VERSION,
      gitVersion: 'embedded-mongo',
      versionArray: [7, 0, 0, 0],
      note: 'embedded-mongo: an in-memory MongoDB-compatible server for local runs and tests, not MongoDB',
      modules: [],
      allocator: 'system',
      javascriptEngine: 'none',
      sysInfo: 'deprecated',
      storageEngines: ['embedded-memory'],
      bits: 64,
      debug: false,
      maxBsonObjectSize: MAX_BSON_OBJECT_SIZE,
      openssl: { running: 'disabled' },
      ok: 1,
    };
  }

  private getParameter(cmd: Document): Document {
    const params: Document = {
      featureCompatibilityVersion: { version: '7.0' },
      authenticationMechanisms: [],
      requireApiVersion: false,
      transactionLifetimeLimitSeconds: 60,
      maxBSONObjectSize: MAX_BSON_OBJECT_SIZE,
    };
    if (cmd.getParameter === '*') return { ...params, ok: 1 };
    const found = Object.keys(cmd).filter((k) => k in params);
    if (found.length === 0) throw new CommandError(72, 'InvalidOptions', 'no option found to get');
    return { ...Object.fromEntries(found.map((k) => [k, params[k]])), ok: 1 };
  }

  private hostInfo(): Document {
    return {
      system: {
        currentTime: new Date(),
        hostname: hostname(),
        cpuAddrSize: 64,
        numCores: 1,
        cpuArch: process.arch,
      },
      os: { type: process.platform, name: process.platform, version: process.version },
      extra: { note: 'embedded-mongo' },
      ok: 1,
    };
  }

  private serverStatus(): Document {
    const uptimeMillis = Date.now() - this.server.startedAt.getTime();
    const { current, totalCreated } = this.server.connections();
    return {
      host: `${hostname()}:${this.server.port}`,
      version: SERVER_VERSION,
      process: 'embedded-mongo',
      pid: Long.fromNumber(process.pid),
      uptime: Math.floor(uptimeMillis / 1000),
      uptimeMillis: Long.fromNumber(uptimeMillis),
      uptimeEstimate: Long.fromNumber(Math.floor(uptimeMillis / 1000)),
      localTime: new Date(),
      connections: { current, available: 1_000_000 - current, totalCreated },
      storageEngine: { name: 'embedded-memory', persistent: this.server.persistent === true },
      metrics: { ttl: this.server.ttl?.() ?? { passes: 0, deletedDocuments: 0 } },
      ok: 1,
    };
  }

  private listDatabases(cmd: Document): Document {
    let databases: Document[] = this.store.databaseNames().map((name) => {
      const sizeOnDisk = this.store.collections(name).reduce((sum, c) => sum + collectionBytes(c), 0);
      return { name, sizeOnDisk, empty: sizeOnDisk === 0 };
    });
    if (isPlainObject(cmd.filter)) databases = new Query(cmd.filter).find(databases).all() as Document[];
    if (cmd.nameOnly) return { databases: databases.map(({ name }) => ({ name })), ok: 1 };
    const totalSize = databases.reduce((sum, d) => sum + (d.sizeOnDisk as number), 0);
    return { databases, totalSize, totalSizeMb: Math.floor(totalSize / 1024 / 1024), ok: 1 };
  }

  private dbStats(_cmd: Document, db: string): Document {
    const collections = this.store.collections(db);
    const dataSize = collections.reduce((sum, c) => sum + collectionBytes(c), 0);
    const objects = collections.reduce((sum, c) => sum + c.docs.size, 0);
    const indexes = collections.reduce((sum, c) => sum + c.indexSpecs().length, 0);
    return {
      db,
      collections: collections.length,
      views: 0,
      objects,
      dataSize,
      storageSize: dataSize,
      indexes,
      ok: 1,
    };
  }

  private collStats(cmd: Document, db: string): Document {
    const coll = this.store.get(db, collectionName(cmd, 'collStats'));
    if (!coll) throw namespaceNotFound(`${db}.${cmd.collStats}`);
    const size = collectionBytes(coll);
    const count = coll.docs.size;
    return {
      ns: coll.ns,
      count,
      size,
      avgObjSize: count ? Math.floor(size / count) : 0,
      storageSize: size,
      nindexes: coll.indexSpecs().length,
      ok: 1,
    };
  }

  private insert(cmd: Document, db: string): Document {
    const name = collectionName(cmd, 'insert');
    const documents = arrayField(cmd, 'documents');
    const ordered = cmd.ordered !== false;
    const coll = this.store.getOrCreate(db, name);
    const writeErrors: Document[] = [];
    let n = 0;
    documents.forEach((raw, index) => {
      if (ordered && writeErrors.length > 0) return;
      try {
        if (!isPlainObject(raw)) throw typeMismatch('document to insert must be an object');
        const doc = raw._id === undefined ? withId(raw, new ObjectId()) : raw;
        validateId(doc._id);
        coll.insert(doc);
        n++;
      } catch (error) {
        writeErrors.push(toCommandError(error).toWriteError(index));
      }
    });
    return { n, ...(writeErrors.length > 0 ? { writeErrors } : {}), ok: 1 };
  }

  private find(cmd: Document, db: string): EncodedReply {
    const name = collectionName(cmd, 'find');
    const coll = this.store.get(db, name);
    const limit = numberField(cmd, 'limit') ?? 0;
    const skip = numberField(cmd, 'skip') ?? 0;
    const sort = objectField(cmd, 'sort');
    // Without a sort the scan can stop as soon as skip + limit documents matched.
    const scanLimit = limit !== 0 && Object.keys(sort).length === 0 ? skip + Math.abs(limit) : Infinity;
    const matched = coll ? coll.match(objectField(cmd, 'filter'), cmd.collation, scanLimit) : [];
    const docs = shape(matched, {
      sort,
      projection: objectField(cmd, 'projection'),
      skip,
      limit: Math.abs(limit),
      collation: cmd.collation,
    });
    const singleBatch = cmd.singleBatch === true || limit < 0;
    const batchSize = numberField(cmd, 'batchSize');
    const first = singleBatch && batchSize === undefined ? docs.length : batchSize;
    return cursorReply(`${db}.${name}`, this.cursors.open(`${db}.${name}`, docs, first, singleBatch), true);
  }

  private getMore(cmd: Document, db: string): EncodedReply {
    const id = numberField(cmd, 'getMore') ?? 0;
    const ns = `${db}.${collectionName(cmd, 'collection')}`;
    return cursorReply(ns, this.cursors.more(id, ns, numberField(cmd, 'batchSize')), false);
  }

  private killCursors(cmd: Document): Document {
    const ids = arrayField(cmd, 'cursors').map((id) => toNumber(id) ?? 0);
    const killed = ids.filter((id) => this.cursors.kill(id));
    return {
      cursorsKilled: killed.map((id) => Long.fromNumber(id)),
      cursorsNotFound: ids.filter((id) => !killed.includes(id)).map((id) => Long.fromNumber(id)),
      cursorsAlive: [],
      cursorsUnknown: [],
      ok: 1,
    };
  }

  private update(cmd: Document, db: string): Document {
    const name = collectionName(cmd, 'update');
    const statements = arrayField(cmd, 'updates');
    const ordered = cmd.ordered !== false;
    let n = 0;
    let nModified = 0;
    const upserted: Document[] = [];
    const writeErrors: Document[] = [];
    statements.forEach((statement, index) => {
      if (ordered && writeErrors.length > 0) return;
      try {
        if (!isPlainObject(statement)) throw typeMismatch('update statement must be an object');
        const filter = objectField(statement, 'q');
        const u = parseUpdate(statement.u);
        const multi = statement.multi === true;
        if (multi && !Array.isArray(u) && !Object.keys(u).some((k) => k.startsWith('$'))) {
          throw new CommandError(
            9,
            'FailedToParse',
            'multi update is not supported for replacement-style update',
          );
        }
        const ctx = { filter, arrayFilters: optionalArray(statement, 'arrayFilters') };
        let coll = this.store.get(db, name);
        const matched = coll ? firstMatches(coll, filter, statement, multi) : [];
        if (matched.length === 0 && statement.upsert === true) {
          const doc = upsertDocument(u, ctx);
          validateId(doc._id);
          coll ??= this.store.getOrCreate(db, name);
          coll.insert(doc);
          upserted.push({ index, _id: doc._id });
          n++;
        }
        for (const doc of matched) {
          const result = update(doc, u, ctx, statement.collation);
          n++;
          if (result.modified && coll) {
            coll.replace(doc, result.doc);
            nModified++;
          }
        }
      } catch (error) {
        writeErrors.push(toCommandError(error).toWriteError(index));
      }
    });
    return {
      n,
      nModified,
      ...(upserted.length > 0 ? { upserted } : {}),
      ...(writeErrors.length > 0 ? { writeErrors } : {}),
      ok: 1,
    };
  }

  private delete(cmd: Document, db: string): Document {
    const name = collectionName(cmd, 'delete');
    const statements = arrayField(cmd, 'deletes');
    const ordered = cmd.ordered !== false;
    const coll = this.store.get(db, name);
    let n = 0;
    const writeErrors: Document[] = [];
    statements.forEach((statement, index) => {
      if (!coll || (ordered && writeErrors.length > 0)) return;
      try {
        if (!isPlainObject(statement)) throw typeMismatch('delete statement must be an object');
        const limit = numberField(statement, 'limit') ?? 0;
        if (limit !== 0 && limit !== 1)
          throw badValue(`The limit field in delete objects must be 0 or 1. Got ${limit}`);
        for (const doc of coll.match(objectField(statement, 'q'), statement.collation, limit || Infinity)) {
          coll.remove(doc);
          n++;
        }
      } catch (error) {
        writeErrors.push(toCommandError(error).toWriteError(index));
      }
    });
    return { n, ...(writeErrors.length > 0 ? { writeErrors } : {}), ok: 1 };
  }

  private findAndModify(cmd: Document, db: string): Document {
    const name = collectionName(cmd, 'findAndModify');
    const filter = objectField(cmd, 'query');
    const remove = cmd.remove === true;
    const fields = objectField(cmd, 'fields');
    if (remove && cmd.update !== undefined) {
      throw new CommandError(9, 'FailedToParse', 'Cannot specify both an update and remove=true');
    }
    if (!remove && cmd.update === undefined) {
      throw new CommandError(9, 'FailedToParse', 'Either an update or remove=true must be specified');
    }
    if (remove && cmd.upsert === true)
      throw new CommandError(9, 'FailedToParse', 'Cannot specify both upsert=true and remove=true');
    let coll = this.store.get(db, name);
    const [found] = coll ? firstMatches(coll, filter, cmd, false) : [];
    const reply = (value: Document | null, lastErrorObject: Document): Document => ({
      lastErrorObject,
      value: value && Object.keys(fields).length > 0 ? shape([value], { projection: fields })[0] : value,
      ok: 1,
    });
    if (remove) {
      if (!found || !coll) return reply(null, { n: 0 });
      coll.remove(found);
      return reply(found, { n: 1 });
    }
    const u = parseUpdate(cmd.update);
    const ctx = { filter, arrayFilters: optionalArray(cmd, 'arrayFilters') };
    if (found && coll) {
      const result = update(found, u, ctx, cmd.collation);
      if (result.modified) {
        coll.replace(found, result.doc);
      }
      return reply(cmd.new === true ? result.doc : found, { n: 1, updatedExisting: true });
    }
    if (cmd.upsert !== true) return reply(null, { n: 0, updatedExisting: false });
    const doc = upsertDocument(u, ctx);
    validateId(doc._id);
    coll ??= this.store.getOrCreate(db, name);
    coll.insert(doc);
    return reply(cmd.new === true ? doc : null, { n: 1, updatedExisting: false, upserted: doc._id });
  }

  private count(cmd: Document, db: string): Document {
    const coll = this.store.get(db, collectionName(cmd, 'count'));
    const query = objectField(cmd, 'query');
    let n = coll ? coll.count(query, cmd.collation) : 0;
    n = Math.max(0, n - (numberField(cmd, 'skip') ?? 0));
    const limit = Math.abs(numberField(cmd, 'limit') ?? 0);
    return { n: limit > 0 ? Math.min(n, limit) : n, ok: 1 };
  }

  private distinct(cmd: Document, db: string): Document {
    const key: unknown = cmd.key;
    if (typeof key !== 'string' || key === '') throw typeMismatch("'key' must be a non-empty string");
    const coll = this.store.get(db, collectionName(cmd, 'distinct'));
    const values = new Map<string, unknown>();
    for (const doc of coll ? coll.match(objectField(cmd, 'query'), cmd.collation) : []) {
      for (const value of pathValues(doc, key))
        if (value !== undefined) values.set(canonicalKey(value), value);
    }
    return { values: [...values.values()].sort(compare), ok: 1 };
  }

  private aggregate(cmd: Document, db: string): EncodedReply {
    const target = cmd.aggregate;
    if (typeof target !== 'string' && target !== 1) {
      throw typeMismatch("collection name in 'aggregate' must be a string or 1");
    }
    if (!isPlainObject(cmd.cursor) && cmd.explain !== true) {
      throw new CommandError(
        9,
        'FailedToParse',
        "The 'cursor' option is required, except for aggregate with the explain argument",
      );
    }
    const pipeline = arrayField(cmd, 'pipeline').map((stage) => {
      if (!isPlainObject(stage) || Object.keys(stage).length !== 1) {
        throw new CommandError(
          40323,
          'Location40323',
          'A pipeline stage specification object must contain exactly one field.',
        );
      }
      return stage;
    });
    if (pipeline.some((stage) => '$changeStream' in stage)) {
      throw new CommandError(
        40573,
        'Location40573',
        'The $changeStream stage is only supported on replica sets',
      );
    }
    const outStage = pipeline.at(-1)?.$out;
    if (outStage !== undefined) pipeline.pop();
    if (pipeline.some((stage) => '$merge' in stage || '$out' in stage)) {
      throw new CommandError(
        40324,
        'Location40324',
        '$merge is not supported by the embedded server; $out only as the last stage',
      );
    }
    const coll = typeof target === 'string' ? this.store.get(db, target) : undefined;
    const leadingMatch = isPlainObject(pipeline[0]?.$match) ? (pipeline.shift()?.$match as Document) : {};
    let input = coll ? coll.match(leadingMatch, cmd.collation) : [];
    if (!pipeline.every((stage) => NON_MUTATING_STAGES.has(Object.keys(stage)[0])))
      input = input.map((d) => cloneDeep(d));
    const aggregator = new Aggregator(pipeline, {
      ...queryOptions(cmd.collation),
      collectionResolver: (name) => (this.store.get(db, name)?.match() ?? []).map((d) => cloneDeep(d)),
    });
    const results = aggregator.run(input) as Document[];
    const ns = typeof target === 'string' ? `${db}.${target}` : `${db}.$cmd.aggregate`;
    if (outStage !== undefined) {
      this.writeOut(db, outStage, results);
      return cursorReply(ns, { id: Long.ZERO, batch: [] }, true);
    }
    const batchSize = isPlainObject(cmd.cursor) ? numberField(cmd.cursor, 'batchSize') : undefined;
    return cursorReply(ns, this.cursors.open(ns, results, batchSize), true);
  }

  private writeOut(db: string, out: unknown, results: Document[]): void {
    const spec = typeof out === 'string' ? { db, coll: out } : isPlainObject(out) ? out : {};
    if (typeof spec.coll !== 'string' || (spec.db ?? db) !== db)
      throw badValue('$out must name a collection of this database');
    const target = this.store.getOrCreate(db, spec.coll);
    const previous = [...target.docs.values()];
    target.clear();
    try {
      for (const doc of results) target.insert(doc._id === undefined ? withId(doc, new ObjectId()) : doc);
    } catch (error) {
      target.clear();
      for (const doc of previous) target.insert(doc);
      throw error;
    }
  }

  private create(cmd: Document, db: string): Document {
    const name = collectionName(cmd, 'create');
    if (this.store.get(db, name))
      throw new CommandError(48, 'NamespaceExists', `Collection ${db}.${name} already exists.`);
    this.store.getOrCreate(db, name, commandOptions(cmd));
    return { ok: 1 };
  }

  private createIndexes(cmd: Document, db: string): Document {
    const name = collectionName(cmd, 'createIndexes');
    const specs = arrayField(cmd, 'indexes');
    if (specs.length === 0) throw badValue('Must specify at least one index to create');
    const createdCollectionAutomatically = !this.store.get(db, name);
    const coll = this.store.getOrCreate(db, name);
    const numIndexesBefore = coll.indexSpecs().length;
    for (const raw of specs) {
      if (!isPlainObject(raw) || !isPlainObject(raw.key) || Object.keys(raw.key).length === 0) {
        throw new CommandError(
          67,
          'CannotCreateIndex',
          "The 'key' field is a required property of an index specification",
        );
      }
      const { key, name: indexName, v: _v, ns: _ns, ...options } = raw;
      const spec: IndexSpec = {
        v: 2,
        key,
        name:
          typeof indexName === 'string'
            ? indexName
            : Object.entries(key)
                .map(([k, v]) => `${k}_${v}`)
                .join('_'),
        ...options,
      };
      coll.createIndex(spec);
    }
    const numIndexesAfter = coll.indexSpecs().length;
    return {
      numIndexesBefore,
      numIndexesAfter,
      createdCollectionAutomatically,
      ...(numIndexesAfter === numIndexesBefore ? { note: 'all indexes already exist' } : {}),
      ok: 1,
    };
  }

  private listIndexes(cmd: Document, db: string): EncodedReply {
    const name = collectionName(cmd, 'listIndexes');
    const coll = this.store.get(db, name);
    if (!coll) throw namespaceNotFound(`${db}.${name}`);
    const batchSize = isPlainObject(cmd.cursor) ? numberField(cmd.cursor, 'batchSize') : undefined;
    return cursorReply(coll.ns, this.cursors.open(coll.ns, coll.indexSpecs(), batchSize), true);
  }

  private dropIndexes(cmd: Document, db: string): Document {
    const name = collectionName(cmd, Object.keys(cmd)[0]);
    const coll = this.store.get(db, name);
    if (!coll) throw namespaceNotFound(`${db}.${name}`);
    const nIndexesWas = coll.indexSpecs().length;
    const index: unknown = cmd.index;
    if (index === '*') coll.dropAllIndexes();
    else if (typeof index === 'string') coll.dropIndex(index);
    else if (isPlainObject(index)) coll.dropIndex(coll.indexNameForKey(index));
    else if (Array.isArray(index)) index.forEach((n) => coll.dropIndex(String(n)));
    else throw typeMismatch("'index' must be a string, an array of names or an index key pattern");
    return { nIndexesWas, ok: 1 };
  }

  private listCollections(cmd: Document, db: string): EncodedReply {
    let entries: Document[] = this.store.collections(db).map((c) => ({
      name: c.name,
      type: 'collection',
      options: c.options,
      info: { readOnly: false, uuid: c.uuid },
      idIndex: c.indexSpecs()[0],
    }));
    if (isPlainObject(cmd.filter) && Object.keys(cmd.filter).length > 0) {
      entries = new Query(cmd.filter).find(entries).all() as Document[];
    }
    if (cmd.nameOnly === true) entries = entries.map(({ name, type }) => ({ name, type }));
    const ns = `${db}.$cmd.listCollections`;
    const batchSize = isPlainObject(cmd.cursor) ? numberField(cmd.cursor, 'batchSize') : undefined;
    return cursorReply(ns, this.cursors.open(ns, entries, batchSize), true);
  }

  private drop(cmd: Document, db: string): Document {
    const name = collectionName(cmd, 'drop');
    const coll = this.store.get(db, name);
    if (!coll) return { ok: 1 };
    this.cursors.killNamespace(coll.ns);
    this.store.drop(db, name);
    return { nIndexesWas: coll.indexSpecs().length, ns: coll.ns, ok: 1 };
  }

  private dropDatabase(_cmd: Document, db: string): Document {
    for (const name of this.store.collectionNames(db)) this.cursors.killNamespace(`${db}.${name}`);
    this.store.dropDatabase(db);
    return { ok: 1 };
  }

  private renameCollection(cmd: Document): Document {
    const [from, to] = [cmd.renameCollection, cmd.to].map((ns: unknown) => {
      if (typeof ns !== 'string' || !ns.includes('.'))
        throw badValue(`Invalid namespace specified '${String(ns)}'`);
      const dot = ns.indexOf('.');
      return { db: ns.slice(0, dot), name: ns.slice(dot + 1) };
    });
    const source = this.store.get(from.db, from.name);
    if (!source) throw new CommandError(26, 'NamespaceNotFound', 'Source collection does not exist');
    validateNames(to.db, to.name);
    if (this.store.get(to.db, to.name)) {
      if (cmd.dropTarget !== true) throw new CommandError(48, 'NamespaceExists', 'target namespace exists');
      this.store.drop(to.db, to.name);
    }
    this.cursors.killNamespace(source.ns);
    this.store.rename(source, to.db, to.name);
    return { ok: 1 };
  }
}

export function toCommandError(error: unknown): CommandError {
  if (error instanceof CommandError) return error;
  if (error instanceof MingoError) return badValue(error.message);
  if (error instanceof Error && error.name === 'BSONError') return badValue(error.message);
  return new CommandError(1, 'InternalError', error instanceof Error ? error.message : String(error));
}

function collectionName(cmd: Document, field: string): string {
  const name: unknown = cmd[field];
  if (typeof name !== 'string')
    throw new CommandError(73, 'InvalidNamespace', `collection name has invalid type ${typeof name}`);
  return name;
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (value instanceof Long) return value.toNumber();
  return undefined;
}

function numberField(doc: Document, field: string): number | undefined {
  const value: unknown = doc[field];
  if (value === undefined || value === null) return undefined;
  const n = toNumber(value);
  if (n === undefined) throw typeMismatch(`Field '${field}' must be numeric`);
  return n;
}

function objectField(doc: Document, field: string): Document {
  const value: unknown = doc[field];
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value)) throw typeMismatch(`Field '${field}' must be an object`);
  return value;
}

function arrayField(doc: Document, field: string): unknown[] {
  const value: unknown = doc[field];
  if (!Array.isArray(value)) throw typeMismatch(`Field '${field}' must be an array`);
  return value;
}

function optionalArray(doc: Document, field: string): Document[] | undefined {
  return doc[field] === undefined ? undefined : (arrayField(doc, field) as Document[]);
}

function commandOptions(cmd: Document): Document {
  return Object.fromEntries(
    Object.entries(cmd)
      .slice(1)
      .filter(([k]) => !k.startsWith('$') && !GENERIC_FIELDS.has(k)),
  );
}

function validateId(id: unknown): void {
  if (Array.isArray(id))
    throw new CommandError(53, 'InvalidIdField', "The '_id' value cannot be of type array");
  if (id instanceof RegExp)
    throw new CommandError(53, 'InvalidIdField', "The '_id' value cannot be of type regex");
}

function collectionBytes(coll: Collection): number {
  let bytes = 0;
  for (const doc of coll.docs.values()) bytes += calculateObjectSize(doc);
  return bytes;
}

/** `applyUpdate`, or its shortcut for simple updates where no collation is involved. */
function update(
  doc: Document,
  u: UpdateSpec,
  ctx: UpdateContext,
  collation: unknown,
): { doc: Document; modified: boolean } {
  // Under a collation the general path differs (mingo's updater tests the filter again without it).
  const simple = queryOptions(collation).collation === undefined ? applySimpleUpdate(doc, u) : undefined;
  return simple ?? applyUpdate(doc, u, ctx);
}

/** The documents a single-document write targets: the first match, after `sort` when given. */
function firstMatches(coll: Collection, filter: Document, options: Document, multi: boolean): Document[] {
  const sort = objectField(options, 'sort');
  const sorted = Object.keys(sort).length > 0;
  const matched = coll.match(filter, options.collation, multi || sorted ? Infinity : 1);
  if (multi) return matched;
  return sorted ? shape(matched, { sort, limit: 1, collation: options.collation }) : matched.slice(0, 1);
}

interface ShapeOptions {
  sort?: Document;
  projection?: Document;
  skip?: number;
  limit?: number;
  collation?: unknown;
}

/** Sort, skip, limit and projection through mingo's cursor. */
function shape(
  docs: Document[],
  { sort = {}, projection = {}, skip = 0, limit = 0, collation }: ShapeOptions,
): Document[] {
  const plain = Object.keys(sort).length === 0 && Object.keys(projection).length === 0;
  if (plain) return docs.slice(skip, limit > 0 ? skip + limit : undefined);
  const byId = sortedById(docs, sort);
  if (byId) return shape(byId.slice(skip, limit > 0 ? skip + limit : undefined), { projection, collation });
  const options = queryOptions(collation);
  const query = options.collation === undefined ? binaryQuery({}) : new Query({}, options);
  let cursor = query.find<Document>(docs, projection);
  if (Object.keys(sort).length > 0) cursor = cursor.sort(sort);
  if (skip > 0) cursor = cursor.skip(skip);
  if (limit > 0) cursor = cursor.limit(limit);
  return cursor.all();
}

/**
 * `docs` sorted by a sort on `_id` alone when every `_id` is an ObjectId (ordered by its bytes, which
 * its hex spelling keeps, whatever the collation), without mingo's comparator (about 7 µs a document);
 * undefined for any other sort.
 */
function sortedById(docs: Document[], sort: Document): Document[] | undefined {
  const keys = Object.keys(sort);
  const direction = plainNumbers(sort._id);
  if (keys.length !== 1 || keys[0] !== '_id' || (direction !== 1 && direction !== -1)) return undefined;
  const keyed: Array<[string, Document]> = [];
  for (const doc of docs) {
    if (!(doc._id instanceof ObjectId)) return undefined;
    keyed.push([doc._id.toHexString(), doc]);
  }
  keyed.sort(([a], [b]) => (a < b ? -direction : a > b ? direction : 0));
  return keyed.map(([, doc]) => doc);
}
