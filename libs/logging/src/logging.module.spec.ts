import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, request as httpRequest, type ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Body,
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Injectable,
  InternalServerErrorException,
  Logger,
  Module,
  Param,
  Post,
  UseGuards,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { context, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { LabLogger } from './lab-logger.js';
import { LoggingModule } from './logging.module.js';

type Json = Record<string, unknown>;

const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
const tracer = provider.getTracer('logging-module-spec');

@Injectable()
class FakeAuthGuard implements CanActivate {
  canActivate(executionContext: ExecutionContext): boolean {
    executionContext.switchToHttp().getRequest<{ user?: unknown }>().user = { subject: 'user-7', scopes: [] };
    return true;
  }
}

@Controller()
class ThingsController {
  private readonly nestLogger = new Logger(ThingsController.name);

  constructor(private readonly logger: LabLogger) {}

  @Get('things/:id')
  async find(@Param('id') id: string) {
    await sleep(5);
    this.nestLogger.log(`found thing ${id}`);
    return { id };
  }

  @Post('things')
  async create(@Body() body: { name: string }) {
    await sleep(5);
    this.logger.log('created thing', { name: body.name }, ThingsController.name);
    return { created: body.name };
  }

  @Get('boom')
  boom() {
    throw new Error('kaboom');
  }

  @Get('me')
  @UseGuards(FakeAuthGuard)
  me() {
    return { ok: true };
  }

  @Get('health/live')
  live() {
    return { status: 'ok' };
  }

  @Get('health/ready')
  ready() {
    throw new InternalServerErrorException('not ready');
  }

  @Get('metrics')
  metrics() {
    return 'metric 1';
  }
}

/**
 * Fastify as the lab runs it (`genReqId` keeps the caller's x-request-id), behind an HTTP server that
 * opens a server span around each request like the HTTP instrumentation does. The response's events,
 * and so Fastify's onResponse hook, run outside that span (the worst case).
 */
function labAdapter(): FastifyAdapter {
  return new FastifyAdapter({
    requestIdHeader: false,
    genReqId: (request: IncomingMessage) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' ? given : randomUUID();
    },
    serverFactory: (handler: (request: IncomingMessage, response: ServerResponse) => void) =>
      createServer((request, response) => {
        const span = tracer.startSpan(`${request.method}`, {
          kind: SpanKind.SERVER,
          attributes: { 'test.request_id': String(request.headers['x-request-id']) },
        });
        response.on('finish', () => span.end());
        response.emit = context.bind(ROOT_CONTEXT, response.emit.bind(response)) as typeof response.emit;
        context.with(trace.setSpan(context.active(), span), () => handler(request, response));
      }),
  });
}

function capture() {
  const lines: string[] = [];
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      callback();
    },
  });
  const logger = new LabLogger({ service: 'things', level: 'info', stdout });
  const records = () => lines.map((line) => JSON.parse(line) as Json);
  return { logger, records, access: () => records().filter((r) => r.context === 'AccessLog') };
}

function serverSpanOf(requestId: string) {
  const span = exporter.getFinishedSpans().find((s) => s.attributes['test.request_id'] === requestId);
  if (!span) throw new Error(`no server span for ${requestId}`);
  return span.spanContext();
}

describe(LoggingModule.name, () => {
  let app: NestFastifyApplication;
  let url: string;
  let output: ReturnType<typeof capture>;

  beforeAll(async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(provider);
    output = capture();
    const moduleRef = await Test.createTestingModule({
      imports: [LoggingModule.forRoot(output.logger)],
      controllers: [ThingsController],
      providers: [FakeAuthGuard],
    }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(labAdapter(), { logger: output.logger });
    LoggingModule.setup(app);
    await app.listen(0, '127.0.0.1');
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });

  afterAll(async () => {
    await app?.close();
    trace.disable();
    context.disable();
    await provider.shutdown();
  });

  afterEach(() => exporter.reset());

  async function accessRecordOf(requestId: string): Promise<Json> {
    return vi.waitFor(
      () => {
        const found = output.access().filter((r) => r.request_id === requestId);
        expect(found).toHaveLength(1);
        return found[0];
      },
      { timeout: 2000, interval: 10 },
    );
  }

  it('writes one access record per request with route template, status, duration and request id', async () => {
    const requestId = `req-${randomUUID()}`;
    const response = await fetch(`${url}/things/42?secret=abc`, { headers: { 'x-request-id': requestId } });
    expect(response.status).toBe(200);
    const record = await accessRecordOf(requestId);
    expect(record).toMatchObject({
      level: 'info',
      message: 'GET /things/:id 200',
      service: 'things',
      context: 'AccessLog',
      'http.method': 'GET',
      'http.route': '/things/:id',
      'http.status_code': 200,
      'url.path': '/things/42',
      'client.address': '127.0.0.1',
      request_id: requestId,
    });
    expect(record.duration_ms).toBeGreaterThanOrEqual(4);
    expect(String(record.duration_ms)).toMatch(/^\d+(\.\d{1,2})?$/);
    expect(record).not.toHaveProperty('user_id');
  });

  it("gives the controller's log lines the request id and the server span's trace, after awaits", async () => {
    const requestId = `req-${randomUUID()}`;
    await fetch(`${url}/things/7`, { headers: { 'x-request-id': requestId } });
    const access = await accessRecordOf(requestId);
    const server = serverSpanOf(requestId);
    const found = output.records().find((r) => r.message === 'found thing 7');
    expect(found).toMatchObject({
      context: 'ThingsController',
      request_id: requestId,
      trace_id: server.traceId,
    });
    expect(access).toMatchObject({ trace_id: server.traceId, span_id: server.spanId });
  });

  it('keeps the request context for handlers of requests whose body arrives after the hooks ran', async () => {
    const requestId = `req-${randomUUID()}`;
    const body = JSON.stringify({ name: 'widget', password: 'hunter2' });
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const request = httpRequest(`${url}/things`, {
        method: 'POST',
        headers: {
          'x-request-id': requestId,
          'content-type': 'application/json',
          'content-length': body.length,
        },
      });
      request.on('response', (response) => {
        response.resume();
        resolve(response.statusCode);
      });
      request.on('error', reject);
      request.flushHeaders();
      setTimeout(() => request.end(body), 50);
    });
    expect(status).toBe(201);
    await accessRecordOf(requestId);
    const created = output.records().find((r) => r.message === 'created thing');
    expect(created).toMatchObject({
      request_id: requestId,
      name: 'widget',
      trace_id: serverSpanOf(requestId).traceId,
    });
  });

  it('logs 5xx responses at error level, with the error the handler threw under the same request id', async () => {
    const requestId = `req-${randomUUID()}`;
    expect((await fetch(`${url}/boom`, { headers: { 'x-request-id': requestId } })).status).toBe(500);
    expect(await accessRecordOf(requestId)).toMatchObject({ level: 'error', message: 'GET /boom 500' });
    const thrown = output
      .records()
      .find((r) => r.context === 'ExceptionsHandler' && r.request_id === requestId);
    expect(thrown).toMatchObject({ level: 'error', message: 'kaboom', 'error.type': 'Error' });
  });

  it('names unmatched routes "unmatched", never the raw path', async () => {
    const requestId = `req-${randomUUID()}`;
    expect((await fetch(`${url}/nowhere/123`, { headers: { 'x-request-id': requestId } })).status).toBe(404);
    expect(await accessRecordOf(requestId)).toMatchObject({
      message: 'GET unmatched 404',
      'http.route': 'unmatched',
      'http.status_code': 404,
    });
  });

  it('adds the user id the auth guard put on the request', async () => {
    const requestId = `req-${randomUUID()}`;
    await fetch(`${url}/me`, { headers: { 'x-request-id': requestId } });
    expect(await accessRecordOf(requestId)).toMatchObject({ 'http.route': '/me', user_id: 'user-7' });
  });

  it('leaves successful health and metrics requests out, but logs failing ones', async () => {
    const ids = { live: `req-${randomUUID()}`, metrics: `req-${randomUUID()}`, ready: `req-${randomUUID()}` };
    await fetch(`${url}/health/live`, { headers: { 'x-request-id': ids.live } });
    await fetch(`${url}/metrics`, { headers: { 'x-request-id': ids.metrics } });
    await fetch(`${url}/health/ready`, { headers: { 'x-request-id': ids.ready } });
    expect(await accessRecordOf(ids.ready)).toMatchObject({
      'http.route': '/health/ready',
      'http.status_code': 500,
    });
    expect(output.access().filter((r) => r.request_id === ids.live || r.request_id === ids.metrics)).toEqual(
      [],
    );
  });

  it('works in an application made by NestFactory.create once LoggingModule.setup() is called', async () => {
    @Module({ controllers: [ThingsController] })
    class ThingsModule {}
    const own = capture();
    const nest = await NestFactory.create<NestFastifyApplication>(
      { module: ThingsModule, imports: [LoggingModule.forRoot(own.logger)] },
      labAdapter(),
      { logger: own.logger },
    );
    LoggingModule.setup(nest);
    try {
      await nest.listen(0, '127.0.0.1');
      const requestId = `req-${randomUUID()}`;
      await fetch(`${(await nest.getUrl()).replace('[::1]', '127.0.0.1')}/things/1`, {
        headers: { 'x-request-id': requestId },
      });
      await vi.waitFor(() => expect(own.access().map((r) => r.request_id)).toEqual([requestId]), {
        timeout: 2000,
      });
      expect(own.records().find((r) => r.message === 'found thing 1')).toMatchObject({
        request_id: requestId,
      });
      expect(own.records().some((r) => r.context === 'NestApplication')).toBe(true);
    } finally {
      await nest.close();
    }
  });
});
