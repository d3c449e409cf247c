import type { LoggerService } from '@nestjs/common';
import { isSpanContextValid, trace } from '@opentelemetry/api';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { Metrics } from '#lab/telemetry';
import { FluentdForwarder } from './fluentd-forwarder.js';
import { redactFields, redactText } from './redact.js';
import { currentRequestContext } from './request-context.js';

/** Nest's levels, most severe first; Nest's `log` is written as `info`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'verbose'] as const;
export type LabLogLevel = (typeof LOG_LEVELS)[number];

export interface FluentdTarget {
  readonly host: string;
  readonly port: number;
  /** Default `app.<service>`. */
  readonly tag?: string;
  /** Records kept while Fluentd is unreachable or has not acknowledged them (default 10,000). */
  readonly maxBufferedRecords?: number;
  /** Default 5,000 ms; a batch without an ack by then is resent on a new connection. */
  readonly ackTimeoutMs?: number;
  /** Default 1,000 ms. */
  readonly reconnectIntervalMs?: number;
  /** Default 50 ms: how long a record may wait to go out with the next ones (one message, one ack). */
  readonly batchDelayMs?: number;
  /** Default 3,000 ms. */
  readonly connectTimeoutMs?: number;
}

export interface LoggerOptions {
  readonly service: string;
  /** Least severe level written: `fatal`, `error`, `warn`, `info` (or `log`), `debug` or `verbose`. */
  readonly level: string;
  /** Also ship every record to Fluentd (forward protocol); stdout is always written. */
  readonly fluent?: FluentdTarget;
  /** Where the JSON lines go; `process.stdout` unless a test wants them. */
  readonly stdout?: NodeJS.WritableStream;
  /** The application's metrics (`log_records_dropped_total`), when it has them yet. */
  readonly metrics?: Metrics;
}

/** One log record as written to stdout and shipped to Fluentd. */
export interface LogRecord {
  readonly '@timestamp': string;
  readonly level: LabLogLevel;
  readonly message: string;
  readonly service: string;
  readonly trace_id?: string;
  readonly span_id?: string;
  readonly request_id?: string;
  readonly context?: string;
  readonly [field: string]: unknown;
}

/** What an access record says about one request (see {@link LabLogger.access}). */
export interface AccessRecordFields {
  readonly 'http.method': string;
  readonly 'http.route': string;
  readonly 'http.status_code': number;
  readonly 'url.path': string;
  readonly duration_ms: number;
  readonly 'client.address': string;
  readonly request_id: string;
  readonly user_id?: string;
  readonly trace_id?: string;
  readonly span_id?: string;
}

const RESERVED_FIELDS = new Set(['@timestamp', 'level', 'message', 'service']);
const STACK = /\n\s+at /;
/** Where winston-transport and logform read the finished line. */
const MESSAGE = Symbol.for('message');
const RECORD = Symbol('record');

type WinstonInfo = winston.Logform.TransformableInfo & { [RECORD]: LogRecord };

/**
 * Nest's `LoggerService` over winston: one JSON line per record on stdout, and the same record to
 * Fluentd when configured. Adds the active span's `trace_id`/`span_id`, the current request's
 * `request_id`, and removes secrets. Logging never throws and never waits for Fluentd.
 */
export class LabLogger implements LoggerService {
  readonly service: string;
  private readonly winston: winston.Logger;
  private readonly stdout: NodeJS.WritableStream;
  private readonly forwarder: FluentdForwarder | undefined;

  constructor(options: LoggerOptions) {
    this.service = options.service;
    this.stdout = options.stdout ?? process.stdout;
    const { fluent } = options;
    this.forwarder =
      fluent &&
      new FluentdForwarder({
        ...fluent,
        tag: fluent.tag ?? `app.${options.service}`,
        ...(options.metrics && { metrics: options.metrics }),
        // Built without the request context: the forwarder's sockets and timers may have inherited one.
        onNotice: (level, message) =>
          this.writeLine({
            '@timestamp': new Date().toISOString(),
            level,
            message,
            service: this.service,
            context: 'FluentdForwarder',
          }),
      });
    this.winston = winston.createLogger({
      levels: Object.fromEntries(LOG_LEVELS.map((level, severity) => [level, severity])),
      level: parseLevel(options.level),
      exitOnError: false,
      format: winston.format((info) => {
        info[MESSAGE] = JSON.stringify((info as WinstonInfo)[RECORD]);
        return info;
      })(),
      transports: [
        new winston.transports.Stream({ stream: this.stdout, eol: '\n' }),
        ...(this.forwarder ? [new winston.transports.Stream({ stream: fluentdStream(this.forwarder) })] : []),
      ],
    });
    // A transport error must not become an unhandled 'error' event.
    this.winston.on('error', () => undefined);
  }

  log(message: unknown, ...optionalParams: unknown[]): void {
    this.write('info', message, optionalParams);
  }

  error(message: unknown, ...optionalParams: unknown[]): void {
    this.write('error', message, optionalParams);
  }

  warn(message: unknown, ...optionalParams: unknown[]): void {
    this.write('warn', message, optionalParams);
  }

  debug(message: unknown, ...optionalParams: unknown[]): void {
    this.write('debug', message, optionalParams);
  }

  verbose(message: unknown, ...optionalParams: unknown[]): void {
    this.write('verbose', message, optionalParams);
  }

  fatal(message: unknown, ...optionalParams: unknown[]): void {
    this.write('fatal', message, optionalParams);
  }

  isLevelEnabled(level: LabLogLevel): boolean {
    return this.winston.isLevelEnabled(level);
  }

  /**
   * One access record per answered request (the logging lib's `onResponse` hook): its fields are the
   * request's own (method, route, status, ids, address, duration), so the record is built directly,
   * without the argument parsing and deep redacting copy of {@link log}; only the path, the one text a
   * client chooses, is redacted. Serialised once for stdout; Fluentd gets the same record.
   */
  access(level: 'info' | 'error', fields: AccessRecordFields): void {
    if (!this.winston.isLevelEnabled(level)) return;
    const record: LogRecord = {
      '@timestamp': new Date().toISOString(),
      level,
      message: `${fields['http.method']} ${fields['http.route']} ${fields['http.status_code']}`,
      service: this.service,
      context: 'AccessLog',
      ...fields,
      'url.path': redactText(fields['url.path']),
    };
    this.winston.log({ level, message: record.message, [RECORD]: record });
  }

  /** Records shipped to Fluentd but not yet acknowledged (0 without Fluentd). */
  get pendingRecords(): number {
    return this.forwarder?.pending ?? 0;
  }

  /** Waits up to `timeoutMs` for Fluentd to acknowledge everything logged so far; true if it did. */
  flush(timeoutMs = 5_000): Promise<boolean> {
    return this.forwarder ? this.forwarder.flush(timeoutMs) : Promise.resolve(true);
  }

  /** Flushes (up to `timeoutMs`) and stops shipping to Fluentd; stdout keeps working. */
  async close(timeoutMs = 5_000): Promise<void> {
    await this.forwarder?.close(timeoutMs);
  }

  private write(level: LabLogLevel, message: unknown, params: readonly unknown[]): void {
    if (!this.winston.isLevelEnabled(level)) return;
    try {
      const record = this.record(level, message, params);
      const info = { level, message: record.message, [RECORD]: record };
      this.winston.log(info);
    } catch (error) {
      this.writeLine({
        '@timestamp': new Date().toISOString(),
        level: 'error',
        message: `a log record could not be written: ${error instanceof Error ? error.message : String(error)}`,
        service: this.service,
      });
    }
  }

  /** Straight to stdout, bypassing Fluentd (for the forwarder's own notices). */
  private writeLine(record: LogRecord): void {
    try {
      this.stdout.write(`${JSON.stringify(record)}\n`);
    } catch {
      // stdout is gone: nowhere left to say so.
    }
  }

  private record(level: LabLogLevel, message: unknown, params: readonly unknown[]): LogRecord {
    const parsed = parseArguments(message, params);
    const fields = redactFields(parsed.fields);
    for (const key of RESERVED_FIELDS) delete fields[key];
    const request = currentRequestContext();
    return {
      '@timestamp': new Date().toISOString(),
      level,
      message: redactText(parsed.message),
      service: this.service,
      ...traceIds(),
      ...(request && { request_id: request.requestId }),
      ...(parsed.context !== undefined && { context: parsed.context }),
      ...fields,
    };
  }
}

function parseLevel(level: string): LabLogLevel {
  const normalized = level === 'log' ? 'info' : level;
  const known = LOG_LEVELS.find((candidate) => candidate === normalized);
  if (!known) throw new Error(`Unknown log level "${level}" (one of ${LOG_LEVELS.join(', ')}, log)`);
  return known;
}

/** The active span's ids, else those of the request's server span. */
function traceIds(): { trace_id?: string; span_id?: string } {
  const span = trace.getActiveSpan()?.spanContext();
  if (span && isSpanContextValid(span)) return { trace_id: span.traceId, span_id: span.spanId };
  const request = currentRequestContext();
  return request?.traceId ? { trace_id: request.traceId, span_id: request.spanId } : {};
}

interface ParsedArguments {
  message: string;
  context?: string;
  fields: Record<string, unknown>;
}

/**
 * Nest calls `log(message, ...params)` with the context (the `Logger`'s name) last, and
 * `error(message, stack?, context?)`; objects among the params are structured fields.
 */
function parseArguments(message: unknown, params: readonly unknown[]): ParsedArguments {
  const rest = params.filter((param) => param !== undefined && param !== null);
  const last = rest.at(-1);
  const context = typeof last === 'string' && !STACK.test(last) ? last : undefined;
  if (context !== undefined) rest.pop();

  const fields: Record<string, unknown> = {};
  const extras: unknown[] = [];
  let text: string;
  if (typeof message === 'string') {
    text = message;
  } else if (message instanceof Error) {
    text = message.message;
    Object.assign(fields, errorFields(message));
  } else if (isObject(message)) {
    const { message: inner, ...others } = message;
    text = typeof inner === 'string' ? inner : '';
    Object.assign(fields, others);
  } else if (message === undefined || message === null) {
    text = '';
  } else {
    text =
      typeof message === 'object' ? JSON.stringify(redactFields({ value: message }).value) : String(message);
  }

  for (const param of rest) {
    if (param instanceof Error && fields['error.stack'] === undefined)
      Object.assign(fields, errorFields(param));
    else if (typeof param === 'string' && STACK.test(param) && fields['error.stack'] === undefined)
      fields['error.stack'] = param;
    else if (isObject(param)) Object.assign(fields, param);
    else extras.push(param);
  }
  if (extras.length > 0) fields.params = extras;
  return { message: text, context, fields };
}

function errorFields(error: Error): Record<string, unknown> {
  const code: unknown = Reflect.get(error, 'code');
  return {
    'error.type': error.name,
    'error.message': error.message,
    'error.stack': error.stack,
    ...((typeof code === 'string' || typeof code === 'number') && { 'error.code': code }),
    ...(error.cause !== undefined && { 'error.cause': error.cause }),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Error);
}

/** The Fluentd side of the logger: an object-mode stream that only queues (winston's Stream transport). */
function fluentdStream(forwarder: FluentdForwarder): Writable {
  return new Writable({
    objectMode: true,
    write(info: WinstonInfo, _encoding, callback) {
      const record = info[RECORD];
      forwarder.send(record, Date.parse(record['@timestamp']));
      callback();
    },
  });
}
