import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabLogger, LOG_LEVELS, type LoggerOptions } from './lab-logger.js';
import { REDACTED } from './redact.js';
import { runWithRequestContext } from './request-context.js';

type Json = Record<string, unknown>;

function loggerWithOutput(options: Partial<LoggerOptions> = {}) {
  const lines: string[] = [];
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      callback();
    },
  });
  const logger = new LabLogger({ service: 'order', level: 'info', stdout, ...options });
  return { logger, lines, records: () => lines.map((line) => JSON.parse(line) as Json) };
}

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg';

describe(LabLogger.name, () => {
  const provider = new TracerProvider();
  const tracer = provider.getTracer('lab-logger-spec');

  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(provider);
  });

  afterAll(async () => {
    trace.disable();
    context.disable();
    await provider.shutdown();
  });

  it('writes one JSON line per record with timestamp, level, message and service', () => {
    const { logger, lines, records } = loggerWithOutput();
    logger.log('order created');
    logger.warn('stock low');
    expect(lines).toHaveLength(2);
    const [first, second] = records();
    expect(Object.keys(first)).toEqual(['@timestamp', 'level', 'message', 'service']);
    expect(first).toMatchObject({ level: 'info', message: 'order created', service: 'order' });
    expect(new Date(String(first['@timestamp'])).toISOString()).toBe(first['@timestamp']);
    expect(second).toMatchObject({ level: 'warn', message: 'stock low' });
  });

  it('has written the line to stdout by the time log() returns', () => {
    const { logger, lines } = loggerWithOutput();
    for (let i = 0; i < 100; i += 1) logger.log(`line ${i}`);
    expect(lines).toHaveLength(100);
  });

  it("maps Nest's context and stack arguments to the context and error.stack fields", () => {
    const { logger, records } = loggerWithOutput();
    const error = new TypeError('bad input');
    logger.log('mapped routes', 'RoutesResolver');
    logger.error('request failed', error.stack, 'OrdersService');
    logger.error(error, undefined, 'ExceptionsHandler');
    logger.log('reserved', { orderId: 'o-1', quantity: 2 }, 'StockService');
    logger.log({ message: 'structured', orderId: 'o-2', outcome: 'confirmed' });
    const [plain, withStack, fromError, withFields, structured] = records();
    expect(plain).toMatchObject({ message: 'mapped routes', context: 'RoutesResolver' });
    expect(withStack).toMatchObject({ level: 'error', message: 'request failed', context: 'OrdersService' });
    expect(withStack['error.stack']).toContain('TypeError: bad input');
    expect(fromError).toMatchObject({
      message: 'bad input',
      context: 'ExceptionsHandler',
      'error.type': 'TypeError',
      'error.message': 'bad input',
    });
    expect(fromError['error.stack']).toContain('lab-logger.spec.ts');
    expect(withFields).toMatchObject({
      message: 'reserved',
      context: 'StockService',
      orderId: 'o-1',
      quantity: 2,
    });
    expect(structured).toMatchObject({ message: 'structured', orderId: 'o-2', outcome: 'confirmed' });
    expect(structured).not.toHaveProperty('context');
  });

  it("serves as Nest's logger for `Logger` instances, with their context", () => {
    const { logger, records } = loggerWithOutput();
    Logger.overrideLogger(logger);
    try {
      new Logger('OrdersService').log('through Nest', { orderId: 'o-3' });
      new Logger('OrdersService').error('failed through Nest');
    } finally {
      Logger.overrideLogger(false);
    }
    expect(records()).toMatchObject([
      { message: 'through Nest', context: 'OrdersService', orderId: 'o-3' },
      { level: 'error', message: 'failed through Nest', context: 'OrdersService' },
    ]);
  });

  it('writes only records at or above its level, Nest-style (verbose is the most detailed)', () => {
    const info = loggerWithOutput({ level: 'info' });
    info.logger.debug('hidden');
    info.logger.verbose('hidden');
    info.logger.fatal('shown');
    expect(info.records()).toMatchObject([{ level: 'fatal', message: 'shown' }]);
    const verbose = loggerWithOutput({ level: 'verbose' });
    verbose.logger.debug('shown');
    verbose.logger.verbose('shown');
    expect(verbose.records().map((r) => r.level)).toEqual(['debug', 'verbose']);
    expect(LOG_LEVELS.filter((level) => info.logger.isLevelEnabled(level))).toEqual([
      'fatal',
      'error',
      'warn',
      'info',
    ]);
    expect(loggerWithOutput({ level: 'log' }).logger.isLevelEnabled('debug')).toBe(false);
    expect(loggerWithOutput({ level: 'error' }).logger.isLevelEnabled('warn')).toBe(false);
    expect(() => new LabLogger({ service: 'order', level: 'loud' })).toThrow(/Unknown log level "loud"/);
  });

  it('adds trace_id and span_id of the active span, also after awaits', async () => {
    const { logger, records } = loggerWithOutput();
    logger.log('outside any span');
    const ids = await tracer.startActiveSpan('order.create', async (span) => {
      logger.log('before await');
      await sleep(5);
      logger.log('after await');
      span.end();
      return span.spanContext();
    });
    const [outside, before, after] = records();
    expect(outside).not.toHaveProperty('trace_id');
    expect(outside).not.toHaveProperty('span_id');
    expect(before).toMatchObject({ trace_id: ids.traceId, span_id: ids.spanId });
    expect(after).toMatchObject({ trace_id: ids.traceId, span_id: ids.spanId });
    expect(ids.traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('adds request_id from the request context without it being passed, across awaits and timers', async () => {
    const { logger, records } = loggerWithOutput();
    await runWithRequestContext({ requestId: 'req-42' }, async () => {
      await sleep(1);
      await new Promise<void>((resolve) =>
        setTimeout(() => {
          logger.log('in a timer');
          resolve();
        }, 1),
      );
    });
    logger.log('after the request');
    const [inside, outside] = records();
    expect(inside).toMatchObject({ message: 'in a timer', request_id: 'req-42' });
    expect(outside).not.toHaveProperty('request_id');
  });

  it('removes passwords, tokens and authorization headers from fields, and JWTs from messages', () => {
    const { logger, lines, records } = loggerWithOutput();
    logger.log(`token issued: ${JWT}`, {
      body: { username: 'ada', password: 'hunter2' },
      headers: { authorization: `Bearer ${JWT}`, cookie: 'sid=abc' },
      refresh_token: 'opaque-refresh',
    });
    logger.error(`upstream said Bearer ${JWT}`, {
      nested: { deeper: { client_secret: 'shh', accessToken: 'a' } },
    });
    const [issued, upstream] = records();
    expect(issued).toMatchObject({
      message: `token issued: ${REDACTED}`,
      body: { username: 'ada', password: REDACTED },
      headers: { authorization: REDACTED, cookie: REDACTED },
      refresh_token: REDACTED,
    });
    expect(upstream).toMatchObject({
      message: `upstream said Bearer ${REDACTED}`,
      nested: { deeper: { client_secret: REDACTED, accessToken: REDACTED } },
    });
    const all = lines.join('\n');
    for (const secret of ['hunter2', 'sid=abc', 'opaque-refresh', 'shh', JWT.split('.')[1]]) {
      expect(all).not.toContain(secret);
    }
  });

  it('never throws on circular, hostile or odd arguments', () => {
    const { logger, records } = loggerWithOutput();
    const circular: Record<string, unknown> = { name: 'loop' };
    circular.self = circular;
    const hostile = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('no keys for you');
        },
      },
    );
    expect(() => {
      logger.log('circular', { circular });
      logger.log(circular);
      logger.warn('hostile', { hostile });
      logger.log(12, 34n, Symbol('s'));
      logger.error(undefined);
      logger.log(['a', { password: 'p' }]);
    }).not.toThrow();
    const written = records();
    expect(written).toHaveLength(6);
    expect(written[0]).toMatchObject({ circular: { name: 'loop', self: '[Circular]' } });
    expect(written[1]).toMatchObject({
      message: '',
      name: 'loop',
      self: { name: 'loop', self: '[Circular]' },
    });
    expect(written[2]).toMatchObject({ message: 'hostile', hostile: '[Unserializable]' });
    expect(written[3]).toMatchObject({ message: '12', params: ['34', 'Symbol(s)'] });
    expect(written[5]).toMatchObject({ message: `["a",{"password":"${REDACTED}"}]` });
  });

  it('orders a record: timestamp, level, message, service, trace ids, request id, context, then its fields', () => {
    const { logger, lines } = loggerWithOutput();
    const ids = tracer.startActiveSpan('order.create', (span) => {
      runWithRequestContext({ requestId: 'req-7' }, () =>
        logger.log('order confirmed', { orderId: 'o-1', total: 2.5 }, 'OrdersService'),
      );
      span.end();
      return span.spanContext();
    });
    const record = JSON.parse(lines[0]) as Json;
    expect(Object.keys(record)).toEqual([
      '@timestamp',
      'level',
      'message',
      'service',
      'trace_id',
      'span_id',
      'request_id',
      'context',
      'orderId',
      'total',
    ]);
    expect(lines[0]).toBe(
      JSON.stringify({
        '@timestamp': record['@timestamp'],
        level: 'info',
        message: 'order confirmed',
        service: 'order',
        trace_id: ids.traceId,
        span_id: ids.spanId,
        request_id: 'req-7',
        context: 'OrdersService',
        orderId: 'o-1',
        total: 2.5,
      }),
    );
  });

  it('writes the access record as given, its path redacted, only at or above its level', () => {
    const { logger, lines } = loggerWithOutput({ level: 'error' });
    const fields = {
      'http.method': 'GET',
      'http.route': '/things/:id',
      'http.status_code': 502,
      'url.path': `/things/${JWT}`,
      duration_ms: 1.25,
      'client.address': '127.0.0.1',
      request_id: 'req-9',
    };
    logger.access('info', { ...fields, 'http.status_code': 200 });
    logger.access('error', fields);
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0]) as Json;
    expect(lines[0]).toBe(
      JSON.stringify({
        '@timestamp': record['@timestamp'],
        level: 'error',
        message: 'GET /things/:id 502',
        service: 'order',
        context: 'AccessLog',
        ...fields,
        'url.path': `/things/${REDACTED}`,
      }),
    );
  });

  it('writes one error line instead of a record that cannot be built, and does not throw', () => {
    const { logger, records } = loggerWithOutput();
    const error = new Error('odd');
    Object.defineProperty(error, 'code', {
      get() {
        throw new Error('no code for you');
      },
    });
    expect(() => logger.warn(error)).not.toThrow();
    logger.log('next');
    const [fallback, next] = records();
    expect(Object.keys(fallback)).toEqual(['@timestamp', 'level', 'message', 'service']);
    expect(fallback).toMatchObject({
      level: 'error',
      message: 'a log record could not be written: no code for you',
      service: 'order',
    });
    expect(next).toMatchObject({ level: 'info', message: 'next' });
  });

  it('does not let fields overwrite the timestamp, level, message or service', () => {
    const { logger, records } = loggerWithOutput();
    logger.log('real', {
      service: 'fake',
      level: 'fatal',
      '@timestamp': 'then',
      message: 'fake',
      orderId: 'o-9',
    });
    expect(records()[0]).toMatchObject({ service: 'order', level: 'info', message: 'real', orderId: 'o-9' });
    expect(records()[0]['@timestamp']).not.toBe('then');
  });
});
