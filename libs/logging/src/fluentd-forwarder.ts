import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { connect, type Socket } from 'node:net';
import { Counter, register } from 'prom-client';

interface MsgpackDecoder {
  on(event: 'data', listener: (value: unknown) => void): void;
  decode(chunk: Buffer): void;
}
interface Msgpack {
  encode(value: unknown): Buffer;
  Decoder: new () => MsgpackDecoder;
}
// msgpack-lite (fluent-logger's encoder) ships no types; only these two calls are used.
const msgpack = createRequire(import.meta.url)('msgpack-lite') as Msgpack;

export interface FluentdForwarderOptions {
  readonly host: string;
  readonly port: number;
  /** Fluentd tag of every record, e.g. `app.order`. */
  readonly tag: string;
  /** Records kept until Fluentd acknowledges them; newer records beyond that are dropped and counted. */
  readonly maxBufferedRecords?: number;
  /** How long to wait for Fluentd's ack of a batch before resending it on a new connection. */
  readonly ackTimeoutMs?: number;
  /** Wait between two connection attempts while Fluentd is unreachable. */
  readonly reconnectIntervalMs?: number;
  readonly connectTimeoutMs?: number;
  /** Most records in one Forward-mode message (one ack each). */
  readonly maxBatchRecords?: number;
  /** State changes worth a line on stdout (never sent to Fluentd: that would loop). */
  readonly onNotice?: (level: 'info' | 'warn', message: string) => void;
}

export const DROPPED_RECORDS_METRIC = 'log_records_dropped_total';

/** Shared by every forwarder of the process, on prom-client's default registry (the one `/metrics` serves). */
function droppedRecords(): Counter<'reason'> {
  const existing = register.getSingleMetric(DROPPED_RECORDS_METRIC);
  if (existing) return existing as Counter<'reason'>;
  return new Counter({
    name: DROPPED_RECORDS_METRIC,
    help: 'Log records not shipped to Fluentd, by reason (buffer_full: Fluentd unreachable for too long).',
    labelNames: ['reason'],
  });
}

const MAX_BATCH_BYTES = 1024 * 1024;

/**
 * Ships records with the Fluentd forward protocol (Forward mode: `[tag, [[time, record], …], {chunk}]`),
 * at least once: a batch leaves the buffer only when Fluentd answers `{ack: chunk}`; on a connection
 * error or an ack timeout it is resent on a new connection. One batch is in flight at a time; records
 * logged meanwhile form the next one. Sending never blocks nor throws: `send()` only queues.
 */
export class FluentdForwarder {
  private readonly maxBufferedRecords: number;
  private readonly ackTimeoutMs: number;
  private readonly reconnectIntervalMs: number;
  private readonly connectTimeoutMs: number;
  private readonly maxBatchRecords: number;
  private readonly encodedTag: Buffer;
  /** Encoded `[time, record]` entries not yet acknowledged, oldest first; the first `inFlight` are sent. */
  private readonly queue: Buffer[] = [];
  private inFlight = 0;
  private chunk: string | undefined;
  private socket: Socket | undefined;
  private connected = false;
  private ackTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private pumpScheduled = false;
  private closed = false;
  /** Undefined until the first ack or failure; drives the notices (one per change, not per attempt). */
  private reachable: boolean | undefined;
  private lastFailure = '';
  private dropping = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: FluentdForwarderOptions) {
    this.maxBufferedRecords = options.maxBufferedRecords ?? 10_000;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 5_000;
    this.reconnectIntervalMs = options.reconnectIntervalMs ?? 1_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 3_000;
    this.maxBatchRecords = options.maxBatchRecords ?? 500;
    this.encodedTag = msgpack.encode(options.tag);
    // Present at 0 from the start, so that `rate()` and alerts see the series before the first drop.
    droppedRecords().inc({ reason: 'buffer_full' }, 0);
  }

  /** Records waiting for Fluentd's acknowledgement (sent or not). */
  get pending(): number {
    return this.queue.length;
  }

  /** Queues a record; false when it was dropped (buffer full, or closed). */
  send(record: Record<string, unknown>, timeMs: number = Date.now()): boolean {
    if (this.closed) return false;
    if (this.queue.length >= this.maxBufferedRecords) {
      droppedRecords().inc({ reason: 'buffer_full' });
      if (!this.dropping) {
        this.dropping = true;
        this.notice(
          'warn',
          `log buffer full (${this.maxBufferedRecords} records): dropping records until Fluentd catches up`,
        );
      }
      return false;
    }
    let entry: Buffer;
    try {
      entry = encodeEntry(timeMs, record);
    } catch {
      return false;
    }
    this.queue.push(entry);
    this.schedulePump();
    return true;
  }

  /** Resolves true once everything queued is acknowledged, false if that takes longer than `timeoutMs`. */
  flush(timeoutMs: number): Promise<boolean> {
    if (this.queue.length === 0) return Promise.resolve(true);
    this.schedulePump();
    return new Promise((resolve) => {
      const done = (delivered: boolean) => {
        clearTimeout(timer);
        this.idleWaiters = this.idleWaiters.filter((waiter) => waiter !== onIdle);
        resolve(delivered);
      };
      const onIdle = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.idleWaiters.push(onIdle);
    });
  }

  /** Flushes within `timeoutMs`, then disconnects; later records are not shipped. */
  async close(timeoutMs: number): Promise<void> {
    if (this.closed) return;
    await this.flush(timeoutMs);
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.ackTimer);
    this.socket?.destroy();
    this.socket = undefined;
    if (this.queue.length > 0) {
      this.notice('warn', `closing with ${this.queue.length} log records not delivered to Fluentd`);
      this.queue.length = 0;
    }
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    // Next turn of the event loop: everything logged in this one goes out as one batch.
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    }).unref();
  }

  private pump(): void {
    if (this.closed || this.inFlight > 0 || this.queue.length === 0) return;
    if (!this.socket) {
      if (!this.retryTimer) this.connect();
      return;
    }
    if (!this.connected) return;
    let count = 0;
    let bytes = 0;
    while (count < this.queue.length && count < this.maxBatchRecords) {
      bytes += this.queue[count].length;
      if (count > 0 && bytes > MAX_BATCH_BYTES) break;
      count += 1;
    }
    const chunk = randomBytes(16).toString('base64');
    this.chunk = chunk;
    this.inFlight = count;
    this.socket.write(
      Buffer.concat([
        FIXARRAY_3,
        this.encodedTag,
        arrayHeader(count),
        ...this.queue.slice(0, count),
        msgpack.encode({ chunk }),
      ]),
    );
    this.ackTimer = setTimeout(() => this.fail(`no ack within ${this.ackTimeoutMs} ms`), this.ackTimeoutMs);
    this.ackTimer.unref();
  }

  private connect(): void {
    const socket = connect({ host: this.options.host, port: this.options.port });
    this.socket = socket;
    this.connected = false;
    // The logger must never keep a process alive; shutdown calls flush().
    socket.unref();
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    socket.setTimeout(this.connectTimeoutMs, () => {
      if (!this.connected) socket.destroy(new Error(`connect timeout after ${this.connectTimeoutMs} ms`));
    });
    const decoder = new msgpack.Decoder();
    decoder.on('data', (response) => this.onResponse(socket, response));
    socket.on('connect', () => {
      if (socket !== this.socket) return;
      this.connected = true;
      socket.setTimeout(0);
      this.pump();
    });
    socket.on('data', (data) => {
      try {
        decoder.decode(data);
      } catch {
        socket.destroy(new Error('undecodable response from Fluentd'));
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.lastFailure = error.code ?? error.message;
    });
    socket.on('close', () => this.onClose(socket));
  }

  private onResponse(socket: Socket, response: unknown): void {
    if (socket !== this.socket || this.inFlight === 0) return;
    if (typeof response !== 'object' || response === null || Reflect.get(response, 'ack') !== this.chunk)
      return;
    clearTimeout(this.ackTimer);
    this.queue.splice(0, this.inFlight);
    this.inFlight = 0;
    this.chunk = undefined;
    if (this.reachable === false) {
      this.notice('info', `Fluentd is reachable again; delivering ${this.queue.length} buffered log records`);
    }
    this.reachable = true;
    if (this.queue.length < this.maxBufferedRecords) this.dropping = false;
    if (this.queue.length === 0) {
      for (const waiter of this.idleWaiters) waiter();
    } else {
      this.pump();
    }
  }

  private fail(reason: string): void {
    this.lastFailure = reason;
    this.socket?.destroy();
  }

  private onClose(socket: Socket): void {
    if (socket !== this.socket) return;
    clearTimeout(this.ackTimer);
    this.socket = undefined;
    this.connected = false;
    this.inFlight = 0;
    this.chunk = undefined;
    if (this.closed) return;
    if (this.queue.length > 0) {
      if (this.reachable !== false) {
        this.notice(
          'warn',
          `Fluentd at ${this.options.host}:${this.options.port} unreachable (${this.lastFailure || 'connection closed'}); ` +
            `keeping up to ${this.maxBufferedRecords} log records and retrying every ${this.reconnectIntervalMs} ms`,
        );
        this.reachable = false;
      }
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.pump();
      }, this.reconnectIntervalMs);
      this.retryTimer.unref();
    }
    this.lastFailure = '';
  }

  private notice(level: 'info' | 'warn', message: string): void {
    try {
      this.options.onNotice?.(level, message);
    } catch {
      // A notice is best effort.
    }
  }
}

const FIXARRAY_2 = Buffer.from([0x92]);
const FIXARRAY_3 = Buffer.from([0x93]);

/** `[EventTime, record]`: EventTime is msgpack ext type 0 (seconds, nanoseconds), Fluentd's sub-second time. */
function encodeEntry(timeMs: number, record: Record<string, unknown>): Buffer {
  const ms = Math.floor(timeMs);
  const time = Buffer.alloc(10);
  time[0] = 0xd7; // fixext 8
  time[1] = 0x00;
  time.writeUInt32BE(Math.floor(ms / 1000), 2);
  time.writeUInt32BE((ms % 1000) * 1_000_000, 6);
  return Buffer.concat([FIXARRAY_2, time, msgpack.encode(record)]);
}

function arrayHeader(length: number): Buffer {
  if (length < 16) return Buffer.from([0x90 | length]);
  const header = Buffer.alloc(length < 0x10000 ? 3 : 5);
  if (length < 0x10000) {
    header[0] = 0xdc;
    header.writeUInt16BE(length, 1);
  } else {
    header[0] = 0xdd;
    header.writeUInt32BE(length, 1);
  }
  return header;
}
