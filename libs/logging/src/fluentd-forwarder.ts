import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Counter } from 'prom-client';
import { Metrics } from '#lab/telemetry';

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
  /** Most records in one PackedForward message (one ack each). */
  readonly maxBatchRecords?: number;
  /**
   * How long a record may wait for others to go out with it (default 50 ms): one message, one write
   * and one ack for everything logged meanwhile, instead of one per event-loop turn (under load, a
   * batch of one or two records per request). `flush()` does not wait.
   */
  readonly batchDelayMs?: number;
  /** What `log_records_dropped_total` is made with: the application's, or one of its own (a logger made before the application). */
  readonly metrics?: Metrics;
  /** State changes worth a line on stdout (never sent to Fluentd: that would loop). */
  readonly onNotice?: (level: 'info' | 'warn', message: string) => void;
}

export const DROPPED_RECORDS_METRIC = 'log_records_dropped_total';

const MAX_BATCH_BYTES = 1024 * 1024;

// ---- fluent-logger 3.4.1 -------------------------------------------------------------------------------
// fluent-logger ships types for its public API only; the sender's members used below are declared here,
// from node_modules/fluent-logger/lib/sender.js (3.4.1). The spec exercises every one of them.

type AckCallback = (error?: Error) => void;

interface EventTime {
  readonly epoch: number;
  readonly nano: number;
}

interface PackedForwardOption {
  readonly chunk: string;
  /** Bytes of the event entries, as counted in `_sendQueueSize`. */
  readonly eventEntryDataSize: number;
}

interface FluentSenderOptions {
  host: string;
  port: number;
  eventMode: 'PackedForward';
  requireAckResponse: true;
  ackResponseTimeout: number;
  flushInterval: number;
  internalLogger: { info: () => void; error: () => void };
}

interface FluentSender {
  emit(data: Record<string, unknown>, timestamp: EventTime, callback: AckCallback): void;
  on(event: 'error', listener: (error: NodeJS.ErrnoException) => void): void;
  _socket: Socket | null;
  _flushingSendQueue: boolean;
  _sendQueueSize: number;
  _connect(callback: () => void): void;
  _disconnect(): void;
  _flushSendQueue(): void;
  _waitToWrite(): void;
  _doConnect(callback: () => void): void;
  _doWrite(packet: Buffer, option: PackedForwardOption, timeoutId: unknown, callbacks: AckCallback[]): void;
}

interface MsgpackDecoder {
  on(event: 'data', listener: (value: unknown) => void): void;
  decode(chunk: Buffer): void;
}

const require = createRequire(import.meta.url);
// The class itself: `createFluentSender()` would also install `_setupErrorHandler` (see AckedSender).
const FluentSenderClass = require('fluent-logger/lib/sender.js') as new (
  tagPrefix: string,
  options: FluentSenderOptions,
) => FluentSender;
// Loud, not silent, if an upgrade of fluent-logger (pinned to 3.4.1 in package.json) renames what AckedSender builds on.
for (const method of [
  '_connect',
  '_disconnect',
  '_doConnect',
  '_doWrite',
  '_flushSendQueue',
  '_waitToWrite',
]) {
  if (typeof Reflect.get(FluentSenderClass.prototype as object, method) !== 'function') {
    throw new Error(
      `fluent-logger's FluentSender has no ${method}(): fluentd-forwarder.ts needs its 3.4.1 internals`,
    );
  }
}
const { EventTime } = require('fluent-logger') as { EventTime: { fromTimestamp(ms: number): EventTime } };
// fluent-logger's own msgpack encoder, for the acks.
const { Decoder } = require('msgpack-lite') as { Decoder: new () => MsgpackDecoder };

const quiet = { info: () => undefined, error: () => undefined };

/**
 * fluent-logger's FluentSender, with its write/ack step (`_doWrite`) and connection setup made safe for
 * a service; queueing, encoding (EventTime, PackedForward entries, chunk ids), connecting and flush
 * scheduling stay fluent-logger's. What 3.4.1's own `_doWrite` does, and why it is replaced:
 * - it calls `this._socket.once('data')` in the write callback: when the socket fails while a large write
 *   is pending, fluent-logger's error handler has already set `_socket` to null and the callback throws
 *   an uncaught TypeError (the process dies);
 * - the ack timeout neither removes that listener nor closes the connection: a late ack is then taken
 *   for the next batch's (mismatch error for a delivered batch, every later batch off by one);
 * - the ack timer is not unref'd nor cancellable: it keeps the process alive after `end()`;
 * - a closed connection is only noticed at the ack timeout (190 s by default): the batch stalls;
 * - after a timeout `_flushingSendQueue` stays true, so nothing is flushed again unless the reconnect
 *   handler of `createFluentSender()` (`_setupErrorHandler`) resets it; that handler arms one
 *   uncancellable, ref'd timer per error event (one per record of a failed batch, one per emit while
 *   down) and, after `end()`, keeps reconnecting forever. So it is not installed: the forwarder retries.
 * One batch at a time is in the sender (the forwarder waits for its outcome), as fluent-logger's
 * ack-per-write design assumes.
 */
class AckedSender extends FluentSenderClass {
  /** Settles the batch awaiting its ack, if any. */
  private settlePending: AckCallback | undefined;

  constructor(
    tag: string,
    options: FluentSenderOptions,
    private readonly settings: {
      readonly ackTimeoutMs: number;
      readonly connectTimeoutMs: number;
      /** A batch left fluent-logger's queue: from now on its outcome comes through the callbacks. */
      readonly onWrite: () => void;
    },
  ) {
    super(tag, options);
  }

  override _doConnect(callback: () => void): void {
    super._doConnect(callback);
    const socket = this._socket;
    if (!socket) return;
    // The logger must never keep a process alive; shutdown calls close().
    socket.unref();
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    // fluent-logger has no connect timeout (its `timeout` is set without a listener).
    socket.setTimeout(this.settings.connectTimeoutMs, () => {
      if (socket.connecting) {
        socket.destroy(new Error(`connect timeout after ${this.settings.connectTimeoutMs} ms`));
      }
    });
    socket.once('connect', () => socket.setTimeout(0));
  }

  override _doWrite(
    packet: Buffer,
    option: PackedForwardOption,
    _timeoutId: unknown,
    callbacks: AckCallback[],
  ): void {
    this.settings.onWrite();
    const socket = this._socket;
    const timer = setTimeout(
      () => settle(new Error(`no ack within ${this.settings.ackTimeoutMs} ms`)),
      this.settings.ackTimeoutMs,
    );
    timer.unref();
    const decoder = new Decoder();
    const onData = (data: Buffer) => {
      try {
        decoder.decode(data);
      } catch {
        settle(new Error('undecodable response from Fluentd'));
      }
    };
    const onClose = () => settle(new Error('connection closed'));
    const settle = (error?: Error) => {
      if (this.settlePending !== settle) return;
      this.settlePending = undefined;
      clearTimeout(timer);
      socket?.off('data', onData);
      socket?.off('close', onClose);
      this._sendQueueSize -= option.eventEntryDataSize;
      if (error) {
        // A new connection for the resend: a late ack of this one can never be read as another's.
        if (this._socket === socket) this._disconnect();
        this._flushingSendQueue = false;
      } else {
        process.nextTick(() => this._waitToWrite());
      }
      for (const callback of callbacks) callback(error);
    };
    this.settlePending = settle;
    if (!socket || socket.destroyed || !socket.writable) {
      process.nextTick(settle, new Error('connection closed'));
      return;
    }
    decoder.on('data', (response) => {
      const ack: unknown = typeof response === 'object' && response !== null && Reflect.get(response, 'ack');
      settle(ack === option.chunk ? undefined : new Error('unexpected ack from Fluentd'));
    });
    socket.on('data', onData);
    socket.once('close', onClose);
    // No write callback: the ack (or its absence) is the outcome, and a destroyed socket cannot throw here.
    socket.write(packet);
  }

  /** Fails the batch awaiting its ack, if any, and drops the connection. */
  abort(): void {
    this.settlePending?.(new Error('sender closed'));
    this._disconnect();
  }
}

interface Entry {
  readonly record: Record<string, unknown>;
  readonly time: EventTime;
}

/** The records handed to fluent-logger: the first `size` of the queue. */
interface Batch {
  size: number;
  acknowledged: number;
  /** Left fluent-logger's queue (written to a socket); until then a failed connection keeps it queued there. */
  written: boolean;
}

/**
 * Ships records to Fluentd with fluent-logger (forward protocol), at least once: a record leaves the
 * buffer only when Fluentd acknowledges its batch; on a connection error or an ack timeout the batch is
 * resent on a new connection. Sending never blocks nor throws: `send()` only queues.
 *
 * Event mode: PackedForward, deliberately. Message mode sends one record per message and waits for its
 * ack before the next (one round trip per record, a chunk id each); CompressedPackedForward gzips every
 * batch synchronously on the service's event loop, for no gain on a local network. PackedForward sends a
 * batch as one message with one ack. Its stalls come from fluent-logger's ack handling (a batch on a
 * closed connection waits for the whole ack timeout, `_flushingSendQueue` stuck after a timeout, late
 * acks shifting onto later batches), replaced in {@link AckedSender}, and from handing it more than one
 * batch: the forwarder keeps the records in its own bounded queue and hands fluent-logger the next batch
 * only once the previous one is acknowledged or has failed.
 */
export class FluentdForwarder {
  private readonly maxBufferedRecords: number;
  private readonly ackTimeoutMs: number;
  private readonly reconnectIntervalMs: number;
  private readonly maxBatchRecords: number;
  private readonly batchDelayMs: number;
  private readonly sender: AckedSender;
  /** Records not yet acknowledged, oldest first; the first `batch.size` are with fluent-logger. */
  private readonly queue: Entry[] = [];
  private batch: Batch | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private pumpScheduled = false;
  private closed = false;
  /** Undefined until the first ack or failure; drives the notices (one per change, not per attempt). */
  private reachable: boolean | undefined;
  private lastFailure = '';
  private dropping = false;
  private idleWaiters: (() => void)[] = [];

  private readonly dropped: Counter<'reason'>;

  constructor(private readonly options: FluentdForwarderOptions) {
    this.maxBufferedRecords = options.maxBufferedRecords ?? 10_000;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 5_000;
    this.reconnectIntervalMs = options.reconnectIntervalMs ?? 1_000;
    this.maxBatchRecords = Math.max(1, options.maxBatchRecords ?? 500);
    this.batchDelayMs = Math.max(0, options.batchDelayMs ?? 50);
    // fluent-logger would refuse every record (MissingTag) and the batch would be retried forever.
    if (!options.tag) throw new Error('FluentdForwarder: the Fluentd tag must not be empty');
    const connectTimeoutMs = options.connectTimeoutMs ?? 3_000;
    this.sender = new AckedSender(
      options.tag,
      {
        host: options.host,
        port: options.port,
        eventMode: 'PackedForward',
        requireAckResponse: true,
        ackResponseTimeout: this.ackTimeoutMs,
        // The forwarder hands over whole batches: no need to wait for more records (default 100 ms).
        flushInterval: 1,
        // No `reconnectInterval` (10 min by default): only its reconnect handler reads it, and that is not
        // installed; the forwarder retries every `reconnectIntervalMs` (1 s by default) instead.
        // Its console logging; what matters reaches onNotice, once per change.
        internalLogger: quiet,
      },
      { ackTimeoutMs: this.ackTimeoutMs, connectTimeoutMs, onWrite: () => this.onWrite() },
    );
    // Connection errors (fluent-logger has already dropped the socket); without a listener it says nothing.
    this.sender.on('error', (error) => this.onConnectionError(error));
    // Present at 0 from the start, so that `rate()` and alerts see the series before the first drop.
    this.dropped = (options.metrics ?? new Metrics()).counter({
      name: DROPPED_RECORDS_METRIC,
      help: 'Log records not shipped to Fluentd, by reason (buffer_full: Fluentd unreachable for too long).',
      labelNames: ['reason'],
      known: { reason: ['buffer_full'] },
    });
  }

  /** Records waiting for Fluentd's acknowledgement (sent or not). */
  get pending(): number {
    return this.queue.length;
  }

  /** Queues a record; false when it was dropped (buffer full, or closed). */
  send(record: Record<string, unknown>, timeMs: number = Date.now()): boolean {
    if (this.closed) return false;
    if (this.queue.length >= this.maxBufferedRecords) {
      this.dropped.inc({ reason: 'buffer_full' });
      if (!this.dropping) {
        this.dropping = true;
        this.notice(
          'warn',
          `log buffer full (${this.maxBufferedRecords} records): dropping records until Fluentd catches up`,
        );
      }
      return false;
    }
    const ms = Number.isFinite(timeMs) ? Math.floor(timeMs) : Date.now();
    this.queue.push({ record, time: EventTime.fromTimestamp(ms) });
    this.schedulePump();
    return true;
  }

  /** Resolves true once everything queued is acknowledged, false if that takes longer than `timeoutMs`. */
  flush(timeoutMs: number): Promise<boolean> {
    if (this.queue.length === 0) return Promise.resolve(true);
    this.pump();
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
    this.retryTimer = undefined;
    this.batch = undefined;
    this.sender.abort();
    if (this.queue.length > 0) {
      this.notice('warn', `closing with ${this.queue.length} log records not delivered to Fluentd`);
      this.queue.length = 0;
    }
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    // Everything logged until then goes out as one batch (see `batchDelayMs`).
    setTimeout(() => {
      this.pumpScheduled = false;
      this.pump();
    }, this.batchDelayMs).unref();
  }

  /** Hands the next batch to fluent-logger, which connects if needed and sends it as one message. */
  private pump(): void {
    if (this.closed || this.batch || this.retryTimer || this.queue.length === 0) return;
    const batch: Batch = { size: 0, acknowledged: 0, written: false };
    this.batch = batch;
    const done = (error?: Error) => this.onOutcome(batch, error);
    const queuedBytes = this.sender._sendQueueSize;
    while (
      this.batch === batch &&
      batch.size < this.queue.length &&
      batch.size < this.maxBatchRecords &&
      (batch.size === 0 || this.sender._sendQueueSize - queuedBytes < MAX_BATCH_BYTES)
    ) {
      const { record, time } = this.queue[batch.size];
      try {
        this.sender.emit(record, time, done);
        batch.size += 1;
      } catch {
        // msgpack could not encode it (it never will): not a record Fluentd can get.
        this.queue.splice(batch.size, 1);
      }
    }
    if (batch.size === 0 && this.batch === batch) {
      this.batch = undefined;
      this.whenIdle();
    }
  }

  private onWrite(): void {
    if (this.batch) this.batch.written = true;
  }

  /** fluent-logger's callbacks: one per record, all at once for a batch (ack, ack timeout, closed). */
  private onOutcome(batch: Batch, error: Error | undefined): void {
    if (batch !== this.batch) return;
    if (error) {
      this.batch = undefined;
      this.unreachable(this.lastFailure || error.message);
      return;
    }
    batch.acknowledged += 1;
    if (batch.acknowledged < batch.size) return;
    this.batch = undefined;
    this.queue.splice(0, batch.size);
    if (this.reachable === false) {
      this.notice('info', `Fluentd is reachable again; delivering ${this.queue.length} buffered log records`);
    }
    this.reachable = true;
    this.lastFailure = '';
    if (this.queue.length < this.maxBufferedRecords) this.dropping = false;
    if (this.queue.length === 0) this.whenIdle();
    // Someone waits in flush(): the rest goes now; else it joins what is logged meanwhile.
    else if (this.idleWaiters.length > 0) this.pump();
    else this.schedulePump();
  }

  private onConnectionError(error: NodeJS.ErrnoException): void {
    // Idle: the next batch connects again.
    if (this.closed || !this.batch) return;
    this.lastFailure = error.code ?? error.message;
    // A batch already written fails through its callbacks (the connection closes); one still in
    // fluent-logger's queue stays there and goes out on the next connection.
    if (!this.batch.written) this.unreachable(this.lastFailure);
  }

  private unreachable(reason: string): void {
    if (this.reachable !== false) {
      this.notice(
        'warn',
        `Fluentd at ${this.options.host}:${this.options.port} unreachable (${reason}); ` +
          `keeping up to ${this.maxBufferedRecords} log records and retrying every ${this.reconnectIntervalMs} ms`,
      );
      this.reachable = false;
    }
    this.lastFailure = '';
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.closed) return;
      if (this.batch && !this.batch.written) {
        // What fluent-logger's reconnect handler does: connect, then flush its queue (our batch).
        this.sender._flushingSendQueue = false;
        this.sender._connect(() => this.sender._flushSendQueue());
      } else {
        this.pump();
      }
    }, this.reconnectIntervalMs);
    this.retryTimer.unref();
  }

  private whenIdle(): void {
    if (this.queue.length > 0) return;
    for (const waiter of this.idleWaiters) waiter();
  }

  private notice(level: 'info' | 'warn', message: string): void {
    try {
      this.options.onNotice?.(level, message);
    } catch {
      // A notice is best effort.
    }
  }
}
