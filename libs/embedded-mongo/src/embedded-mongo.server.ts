import { mkdir } from 'node:fs/promises';
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { resolve } from 'node:path';
import type { Document } from 'bson';
import { isPlainObject } from './bson-values.js';
import { CommandHandler, type ConnectionInfo, toCommandError } from './command-handler.js';
import { DataDirLock, portHolder } from './data-dir-lock.js';
import type { JournalFs } from './journal.js';
import { Persistence } from './persistence.js';
import type { EncodedReply } from './raw-bson.js';
import { Store } from './store.js';
import { DEFAULT_TTL_INTERVAL_MS, TtlMonitor } from './ttl-monitor.js';
import {
  type CommandRequest,
  MAX_MESSAGE_SIZE_BYTES,
  MessageFramer,
  OP_QUERY,
  ProtocolError,
  decodeRequest,
  encodeOpMsg,
  encodeOpReply,
  readHeader,
} from './wire-protocol.js';

export const DEFAULT_MAX_CONNECTIONS = 1000;
/** Replies a client does not read are not buffered beyond this: the connection stops being read until they drain. */
const MAX_UNREAD_REPLY_BYTES = MAX_MESSAGE_SIZE_BYTES;

export interface EmbeddedMongoOptions {
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** TCP port; 0 (the default) picks a free one. */
  port?: number;
  /** When set, collections are loaded from and journaled to this directory, which the server locks. */
  dataDir?: string;
  /** Receives diagnostics: unknown commands, internal errors, dropped connections. */
  log?: (line: string) => void;
  /** Connections beyond this many are closed as they arrive (default 1000). */
  maxConnections?: number;
  /** How often TTL indexes are applied (default 60 s, as mongod's `ttlMonitorSleepSecs`). */
  ttlMonitorIntervalMs?: number;
  /** Journal bytes after which a checkpoint compacts the journal (default 16 MiB, or the last checkpoint's size). */
  checkpointBytes?: number;
  /**
   * Called when a journal write or fsync fails: the server has already closed every connection and
   * its listener, as it can no longer keep what it acknowledges. By default the error is thrown
   * (an uncaught exception ends the process, as mongod stops on a journal failure).
   */
  onFatal?: (error: Error) => void;
  /** The journal's file operations; for tests that count or fail fsyncs. */
  journalFs?: JournalFs;
}

interface HeldReply {
  readonly bytes: Buffer;
  readonly seq: number;
  readonly sync: boolean;
}

interface Connection {
  readonly info: ConnectionInfo;
  readonly socket: Socket;
  /** Replies waiting for the journal, in request order; later replies wait behind them. */
  readonly held: HeldReply[];
}

/** `j: true` (or the legacy `fsync: true`) in a command's write concern: acknowledge only once fsynced. */
function wantsJournalSync(command: Document): boolean {
  const concern: unknown = command.writeConcern;
  return isPlainObject(concern) && (concern.j === true || concern.fsync === true);
}

/**
 * An in-memory server speaking the MongoDB wire protocol, for local runs and tests where MongoDB
 * itself is not available. The official driver and TypeORM connect to it as to a standalone mongod.
 */
export class EmbeddedMongoServer {
  private readonly connections = new Set<Connection>();
  private readonly holding = new Set<Connection>();
  private readonly handler: CommandHandler;
  private readonly ttl: TtlMonitor;
  private totalConnections = 0;
  private nextRequestId = 1;
  private stopping: Promise<void> | undefined;
  private fatalError: Error | undefined;

  private constructor(
    private readonly listener: Server,
    store: Store,
    private readonly persistence: Persistence | undefined,
    private readonly lock: DataDirLock | undefined,
    private readonly options: EmbeddedMongoOptions,
    private readonly log: (line: string) => void,
    readonly host: string,
    readonly port: number,
  ) {
    const connections = () => ({ current: this.connections.size, totalCreated: this.totalConnections });
    this.ttl = new TtlMonitor(store, log);
    const ttl = () => ({ passes: this.ttl.passes, deletedDocuments: this.ttl.deletedDocuments });
    this.handler = new CommandHandler(store, {
      host,
      port,
      startedAt: new Date(),
      persistent: persistence !== undefined,
      connections,
      ttl,
      log,
    });
    this.ttl.start(options.ttlMonitorIntervalMs ?? DEFAULT_TTL_INTERVAL_MS);
    listener.on('connection', (socket: Socket) => this.accept(socket));
  }

  static async start(options: EmbeddedMongoOptions = {}): Promise<EmbeddedMongoServer> {
    const host = options.host ?? '127.0.0.1';
    const log = options.log ?? (() => undefined);
    const store = new Store();
    let server: EmbeddedMongoServer | undefined;
    let lock: DataDirLock | undefined;
    let persistence: Persistence | undefined;
    try {
      if (options.dataDir) {
        const dataDir = resolve(options.dataDir);
        await mkdir(dataDir, { recursive: true });
        lock = await DataDirLock.acquire(dataDir, log);
        persistence = await Persistence.open({
          dataDir,
          store,
          log,
          fs: options.journalFs,
          checkpointBytes: options.checkpointBytes,
          onProgress: () => server?.release(),
          onFatal: (error) => server?.fatal(error),
        });
      }
      const listener = createServer({ noDelay: true });
      const port = await listen(listener, host, options.port ?? 0, log);
      await lock?.describe(host, port);
      server = new EmbeddedMongoServer(listener, store, persistence, lock, options, log, host, port);
      return server;
    } catch (error) {
      await persistence?.close().catch(() => undefined);
      await lock?.release().catch(() => undefined);
      throw error;
    }
  }

  get uri(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `mongodb://${host}:${this.port}`;
  }

  /**
   * Stops listening, drops client connections, writes a checkpoint of everything and releases the
   * data directory.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.ttl.stop();
      const closed = new Promise<void>((done) => this.listener.close(() => done()));
      for (const conn of this.connections) conn.socket.destroy();
      await closed;
      try {
        await this.persistence?.close();
      } finally {
        await this.lock?.release();
      }
    })();
    return this.stopping;
  }

  private accept(socket: Socket): void {
    if (this.stopping || this.fatalError) {
      socket.destroy();
      return;
    }
    const max = this.options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    if (this.connections.size >= max) {
      this.log(
        `connection from ${socket.remoteAddress}:${socket.remotePort} refused: ${max} connections open (the limit)`,
      );
      socket.destroy();
      return;
    }
    const conn: Connection = {
      info: { connectionId: ++this.totalConnections, remote: `${socket.remoteAddress}:${socket.remotePort}` },
      socket,
      held: [],
    };
    this.connections.add(conn);
    const framer = new MessageFramer();
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      try {
        const messages = framer.push(chunk);
        // Replies to messages that arrived together leave together, in one write.
        if (messages.length > 1) socket.cork();
        try {
          for (const message of messages) this.respond(conn, message);
        } finally {
          if (messages.length > 1) socket.uncork();
        }
      } catch (error) {
        this.log(
          `connection ${conn.info.connectionId} closed: ${error instanceof Error ? error.message : error}`,
        );
        socket.destroy();
      }
    });
    socket.on('drain', () => socket.resume());
    socket.on('error', (error) => this.log(`connection ${conn.info.connectionId}: ${error.message}`));
    socket.on('close', () => {
      this.connections.delete(conn);
      this.holding.delete(conn);
      conn.held.length = 0;
    });
  }

  private respond(conn: Connection, message: Buffer): void {
    const header = readHeader(message);
    let request: CommandRequest;
    let reply: Document | EncodedReply;
    try {
      request = decodeRequest(message, header);
      reply = this.handler.handle(request.db, request.command, conn.info);
    } catch (error) {
      if (error instanceof ProtocolError) throw error;
      request = { header, db: '', command: {}, moreToCome: false };
      reply = {
        ok: 0,
        errmsg: `invalid message: ${toCommandError(error).message}`,
        code: 22,
        codeName: 'InvalidBSON',
      };
    }
    if (request.moreToCome || conn.socket.destroyed) return;
    const encode = header.opCode === OP_QUERY ? encodeOpReply : encodeOpMsg;
    const requestId = this.nextRequestId++ & 0x7fffffff;
    let bytes: Buffer;
    try {
      bytes = encode(requestId, header.requestId, reply);
    } catch (error) {
      // E.g. a reply over the BSON size limit: the client gets an error instead of a dead connection.
      bytes = encode(requestId, header.requestId, toCommandError(error).toReply());
    }
    const journal = this.persistence?.journal;
    if (!journal) {
      this.send(conn, bytes);
      return;
    }
    // Every reply waits until what was journaled before it has reached the OS (so no reply, not
    // even a read, shows data a crash of this process could still lose); with j: true until fsynced.
    const seq = journal.appendedSeq;
    const sync = wantsJournalSync(request.command);
    if (sync) journal.sync(seq).catch(() => undefined); // a failure is fatal and reported through onFatal
    if (conn.held.length === 0 && journal.writtenSeq >= seq && (!sync || journal.syncedSeq >= seq)) {
      this.send(conn, bytes);
    } else {
      conn.held.push({ bytes, seq, sync });
      this.holding.add(conn);
    }
  }

  private send(conn: Connection, bytes: Buffer): void {
    if (!conn.socket.writable) return;
    conn.socket.write(bytes);
    if (conn.socket.writableLength > MAX_UNREAD_REPLY_BYTES) conn.socket.pause();
  }

  /** Sends the held replies whose journal writes (or fsyncs) are done, each connection in order. */
  private release(): void {
    const journal = this.persistence?.journal;
    if (!journal) return;
    for (const conn of this.holding) {
      let sent = 0;
      // Replies released together leave together, in one write.
      const corked = conn.held.length > 1;
      if (corked) conn.socket.cork();
      for (const reply of conn.held) {
        if (journal.writtenSeq < reply.seq || (reply.sync && journal.syncedSeq < reply.seq)) break;
        this.send(conn, reply.bytes);
        sent++;
      }
      if (corked) conn.socket.uncork();
      conn.held.splice(0, sent);
      if (conn.held.length === 0) this.holding.delete(conn);
    }
  }

  private fatal(error: Error): void {
    if (this.fatalError || this.stopping) {
      this.log(`after stop: ${error.message}`);
      return;
    }
    this.fatalError = error;
    this.log(`fatal: ${error.message}; closing every connection, nothing more is acknowledged`);
    this.ttl.stop();
    this.listener.close();
    for (const conn of this.connections) conn.socket.destroy();
    if (this.options.onFatal) this.options.onFatal(error);
    else
      setImmediate(() => {
        throw error;
      });
  }
}

function listen(listener: Server, host: string, port: number, log: (line: string) => void): Promise<number> {
  return new Promise((done, fail) => {
    const onError = (error: NodeJS.ErrnoException) => {
      let reason = error.message;
      if (error.code === 'EADDRINUSE') {
        const holder = port === 0 ? undefined : portHolder(port);
        reason = holder
          ? `the address is already in use by pid ${holder.pid}${holder.command ? ` (${holder.command})` : ''}`
          : 'the address is already in use';
      }
      fail(new Error(`embedded-mongo cannot listen on ${host}:${port}: ${reason}`, { cause: error }));
    };
    listener.once('error', onError);
    listener.listen(port, host, () => {
      listener.off('error', onError);
      listener.on('error', (error) => log(`listener: ${error.message}`));
      done((listener.address() as AddressInfo).port);
    });
  });
}
