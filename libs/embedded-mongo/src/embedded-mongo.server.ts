import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { resolve } from 'node:path';
import type { Document } from 'bson';
import { CommandHandler, type ConnectionInfo, toCommandError } from './command-handler.js';
import { Persistence } from './persistence.js';
import { Store } from './store.js';
import {
  type CommandRequest,
  MessageFramer,
  OP_QUERY,
  ProtocolError,
  decodeRequest,
  encodeOpMsg,
  encodeOpReply,
  readHeader,
} from './wire-protocol.js';

export interface EmbeddedMongoOptions {
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** TCP port; 0 (the default) picks a free one. */
  port?: number;
  /** When set, collections are loaded from and saved to this directory. */
  dataDir?: string;
  /** Receives diagnostics: unknown commands, internal errors, dropped connections. */
  log?: (line: string) => void;
}

/**
 * An in-memory server speaking the MongoDB wire protocol, for local runs and tests where MongoDB
 * itself is not available. The official driver and TypeORM connect to it as to a standalone mongod.
 */
export class EmbeddedMongoServer {
  private readonly sockets = new Set<Socket>();
  private readonly handler: CommandHandler;
  private totalConnections = 0;
  private nextRequestId = 1;
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly listener: Server,
    store: Store,
    private readonly persistence: Persistence | undefined,
    private readonly log: (line: string) => void,
    readonly host: string,
    readonly port: number,
  ) {
    const connections = () => ({ current: this.sockets.size, totalCreated: this.totalConnections });
    this.handler = new CommandHandler(store, { host, port, startedAt: new Date(), connections, log });
    listener.on('connection', (socket: Socket) => this.accept(socket));
  }

  static async start(options: EmbeddedMongoOptions = {}): Promise<EmbeddedMongoServer> {
    const host = options.host ?? '127.0.0.1';
    const log = options.log ?? (() => undefined);
    let persistence: Persistence | undefined;
    const store = new Store((db, name) => persistence?.markDirty(db, name));
    if (options.dataDir) {
      persistence = new Persistence(resolve(options.dataDir), store, log);
      await persistence.load();
    }
    const listener = createServer({ noDelay: true });
    const port = await listen(listener, host, options.port ?? 0, log);
    return new EmbeddedMongoServer(listener, store, persistence, log, host, port);
  }

  get uri(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `mongodb://${host}:${this.port}`;
  }

  /** Stops listening, drops client connections and writes pending changes to the data directory. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const closed = new Promise<void>((done) => this.listener.close(() => done()));
      for (const socket of this.sockets) socket.destroy();
      await closed;
      await this.persistence?.flush();
    })();
    return this.stopping;
  }

  private accept(socket: Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    const conn: ConnectionInfo = {
      connectionId: ++this.totalConnections,
      remote: `${socket.remoteAddress}:${socket.remotePort}`,
    };
    this.sockets.add(socket);
    const framer = new MessageFramer();
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const message of framer.push(chunk)) this.respond(socket, message, conn);
      } catch (error) {
        this.log(`connection ${conn.connectionId} closed: ${error instanceof Error ? error.message : error}`);
        socket.destroy();
      }
    });
    socket.on('error', (error) => this.log(`connection ${conn.connectionId}: ${error.message}`));
    socket.on('close', () => this.sockets.delete(socket));
  }

  private respond(socket: Socket, message: Buffer, conn: ConnectionInfo): void {
    const header = readHeader(message);
    let request: CommandRequest;
    let reply: Document;
    try {
      request = decodeRequest(message, header);
      reply = this.handler.handle(request.db, request.command, conn);
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
    if (request.moreToCome || socket.destroyed) return;
    const encode = header.opCode === OP_QUERY ? encodeOpReply : encodeOpMsg;
    const requestId = this.nextRequestId++ & 0x7fffffff;
    let bytes: Buffer;
    try {
      bytes = encode(requestId, header.requestId, reply);
    } catch (error) {
      // E.g. a reply over the BSON size limit: the client gets an error instead of a dead connection.
      bytes = encode(requestId, header.requestId, toCommandError(error).toReply());
    }
    socket.write(bytes);
  }
}

function listen(listener: Server, host: string, port: number, log: (line: string) => void): Promise<number> {
  return new Promise((done, fail) => {
    const onError = (error: NodeJS.ErrnoException) => {
      const reason = error.code === 'EADDRINUSE' ? 'the address is already in use' : error.message;
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
