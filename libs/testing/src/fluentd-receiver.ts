import { createRequire } from 'node:module';
import { createServer, type Server, type Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';

interface MsgpackCodec {
  addExtUnpacker(type: number, unpacker: (data: Buffer) => unknown): void;
}
interface MsgpackDecoder {
  on(event: 'data', listener: (value: unknown) => void): void;
  decode(chunk: Buffer): void;
}
interface Msgpack {
  encode(value: unknown): Buffer;
  createCodec(): MsgpackCodec;
  Decoder: new (options: { codec: MsgpackCodec }) => MsgpackDecoder;
}
// msgpack-lite (what fluent-logger speaks) ships no types; only these calls are used.
const msgpack = createRequire(import.meta.url)('msgpack-lite') as Msgpack;
const codec = msgpack.createCodec();
// EventTime: seconds and nanoseconds, big-endian (Fluentd forward protocol v1).
codec.addExtUnpacker(0x00, (data) => data.readUInt32BE(0) + data.readUInt32BE(4) / 1e9);

export interface FluentdRecord {
  readonly tag: string;
  /** Seconds since the epoch, with the fraction an EventTime carries. */
  readonly time: number;
  readonly record: Record<string, unknown>;
}

export interface FluentdReceiverOptions {
  /** 0 (default): a free port. */
  readonly port?: number;
  /** Answer `{ack: chunk}` when a message asks for it (default true); false stands in for a stuck Fluentd. */
  readonly ack?: boolean;
}

export interface FluentdReceiver {
  readonly port: number;
  /** Every record received since start (kept across `restart()`), in arrival order; resent ones appear again. */
  readonly records: FluentdRecord[];
  /** Chunk ids of the messages that asked for an ack, in arrival order. */
  readonly chunks: string[];
  /** Whether acks are answered; may be changed while running. */
  ack: boolean;
  /** Resolves with `records` once `predicate(records)` holds; rejects after `timeoutMs`. */
  waitFor(
    predicate: (records: readonly FluentdRecord[]) => boolean,
    timeoutMs?: number,
  ): Promise<FluentdRecord[]>;
  /** Fluentd going down: stops listening and drops every connection. */
  stop(): Promise<void>;
  /** Fluentd coming back on the same port. */
  restart(): Promise<void>;
}

/**
 * Stands in for Fluentd's `in_forward` on 127.0.0.1: decodes the forward protocol's Message, Forward,
 * PackedForward and CompressedPackedForward (gzip) modes and answers acks. Not supported: the
 * HELO/PING/PONG handshake (shared key, user auth), TLS, heartbeats, and PackedForward entries sent
 * as msgpack `str` instead of `bin`.
 */
export async function startFluentdReceiver(options: FluentdReceiverOptions = {}): Promise<FluentdReceiver> {
  const records: FluentdRecord[] = [];
  const chunks: string[] = [];
  const listeners = new Set<() => void>();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = options.port ?? 0;

  const receive = (socket: Socket, message: unknown) => {
    const { tag, entries, option } = parseMessage(message);
    for (const [time, record] of entries) records.push({ tag, time, record });
    const chunk = option?.chunk;
    if (typeof chunk === 'string') {
      chunks.push(chunk);
      if (receiver.ack) socket.write(msgpack.encode({ ack: chunk }));
    }
    for (const listener of listeners) listener();
  };

  const listen = async () => {
    const created = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      const decoder = new msgpack.Decoder({ codec });
      decoder.on('data', (message) => receive(socket, message));
      socket.on('data', (data) => {
        try {
          decoder.decode(data);
        } catch {
          socket.destroy();
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      created.once('error', reject);
      created.listen(port, '127.0.0.1', () => {
        created.off('error', reject);
        resolve();
      });
    });
    const address = created.address();
    if (address && typeof address === 'object') port = address.port;
    server = created;
  };

  const receiver: FluentdReceiver = {
    get port() {
      return port;
    },
    records,
    chunks,
    ack: options.ack ?? true,
    waitFor(predicate, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate(records)) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(records);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(
            new Error(
              `Fluentd receiver: condition not met within ${timeoutMs} ms (${records.length} records)`,
            ),
          );
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    async stop() {
      const stopping = server;
      server = undefined;
      if (!stopping) return;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => stopping.close(() => resolve()));
    },
    async restart() {
      await receiver.stop();
      await listen();
    },
  };
  await listen();
  return receiver;
}

type Entry = [time: number, record: Record<string, unknown>];

function parseMessage(message: unknown): {
  tag: string;
  entries: Entry[];
  option: Record<string, unknown> | undefined;
} {
  if (!Array.isArray(message) || typeof message[0] !== 'string') {
    throw new Error('not a forward protocol message');
  }
  const [tag, second] = message as [string, unknown];
  if (typeof second === 'number') {
    // Message mode: [tag, time, record, option?]
    return { tag, entries: [[second, asRecord(message[2])]], option: asOption(message[3]) };
  }
  const option = asOption(message[2]);
  if (Array.isArray(second)) {
    // Forward mode: [tag, [[time, record], …], option?]
    return { tag, entries: second.map(asEntry), option };
  }
  if (Buffer.isBuffer(second)) {
    // (Compressed)PackedForward mode: [tag, msgpack stream of [time, record], option?]
    const stream = option?.compressed === 'gzip' ? gunzipSync(second) : second;
    const entries: Entry[] = [];
    const decoder = new msgpack.Decoder({ codec });
    decoder.on('data', (entry) => entries.push(asEntry(entry)));
    decoder.decode(stream);
    return { tag, entries, option };
  }
  throw new Error('unsupported forward protocol mode');
}

function asEntry(entry: unknown): Entry {
  if (!Array.isArray(entry) || typeof entry[0] !== 'number') throw new Error('not a [time, record] entry');
  return [entry[0], asRecord(entry[1])];
}

function asRecord(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error('record is not a map');
  return value as Record<string, unknown>;
}

function asOption(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
