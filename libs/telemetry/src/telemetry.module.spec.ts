import { Readable } from 'node:stream';
import {
  Body,
  Controller,
  Get,
  Injectable,
  Module,
  NotFoundException,
  type OnModuleInit,
  Param,
  Post,
} from '@nestjs/common';
import { HttpAdapterHost, NestFactory } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { FastifyInstance } from 'fastify';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigModule } from '#lab/config';
import { useInMemoryTracing } from '../test/in-memory-tracing.js';
import { Span, TraceService } from 'nestjs-otel';
import { Metrics } from './metrics.js';
import { TelemetryModule } from './telemetry.module.js';

@Controller('widgets')
class WidgetsController {
  constructor(private readonly traces: TraceService) {}

  @Get('boom')
  boom(): never {
    throw new Error('kaput');
  }

  @Get('gone/:id')
  gone(): never {
    throw new NotFoundException('no such widget');
  }

  @Get(':id')
  findOne(@Param('id') id: string) {
    return this.load(id);
  }

  @Post()
  async create(@Body() body: Record<string, unknown>) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    return this.store(body);
  }

  @Span('widget.load', (id: string) => ({ attributes: { 'widget.id': id } }))
  private async load(id: string) {
    this.traces.getSpan()?.setAttribute('widget.found', true);
    return { id };
  }

  @Span('widget.create')
  private async store(body: Record<string, unknown>) {
    return body;
  }
}

/** Another lib's hook, installed at module init like the logging lib's request context. */
@Injectable()
class OnRequestSpy implements OnModuleInit {
  static seen: (string | undefined)[] = [];
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit(): void {
    this.adapterHost.httpAdapter
      .getInstance<FastifyInstance>()
      .addHook('onRequest', (_request, _reply, done) => {
        OnRequestSpy.seen.push(trace.getActiveSpan()?.spanContext().spanId);
        done();
      });
  }
}

@Module({
  imports: [ConfigModule.forService('product'), TelemetryModule],
  controllers: [WidgetsController],
  providers: [OnRequestSpy],
})
class WidgetsModule {}

const tracing = useInMemoryTracing();

describe(TelemetryModule.name, () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    app = await NestFactory.create<NestFastifyApplication>(WidgetsModule, new FastifyAdapter(), {
      logger: false,
    });
    TelemetryModule.setup(app);
    await app.listen(0, '127.0.0.1');
  });

  afterAll(() => app?.close());

  beforeEach(() => tracing.exporter.reset());

  const get = (url: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'GET', url, headers });
  const only = (name: string) => {
    const spans = tracing.spans(name);
    expect(spans).toHaveLength(1);
    return spans[0];
  };

  describe('HTTP server spans', () => {
    it("names the span after the route template, with OpenTelemetry's HTTP attributes, continuing the caller's trace", async () => {
      const caller = { traceId: 'c'.repeat(32), spanId: 'd'.repeat(16) };
      const response = await get('/widgets/42?x=1', {
        traceparent: `00-${caller.traceId}-${caller.spanId}-01`,
        'user-agent': 'spec',
      });
      expect(response.statusCode).toBe(200);
      const server = only('GET /widgets/:id');
      expect(server.kind).toBe(SpanKind.SERVER);
      expect(server.spanContext().traceId).toBe(caller.traceId);
      expect(server.parentSpanContext?.spanId).toBe(caller.spanId);
      expect(server.attributes).toMatchObject({
        'http.request.method': 'GET',
        'http.route': '/widgets/:id',
        'http.response.status_code': 200,
        'url.path': '/widgets/42',
        'url.scheme': 'http',
        'user_agent.original': 'spec',
      });
      expect(server.status.code).toBe(SpanStatusCode.UNSET);
    });

    it('marks a 5xx answer ERROR and leaves a 4xx alone', async () => {
      await get('/widgets/boom');
      expect(only('GET /widgets/boom').status.code).toBe(SpanStatusCode.ERROR);
      expect(only('GET /widgets/boom').attributes['error.type']).toBe('500');
      await get('/nowhere');
      expect(only('GET').attributes).toMatchObject({
        'http.response.status_code': 404,
        'url.path': '/nowhere',
      });
      expect(only('GET').status.code).toBe(SpanStatusCode.UNSET);
    });

    it("is active in other modules' onRequest hooks (the logging lib takes the trace ids there)", async () => {
      OnRequestSpy.seen = [];
      await get('/widgets/5');
      expect(OnRequestSpy.seen).toEqual([only('GET /widgets/:id').spanContext().spanId]);
    });

    it('is also set up in an application made from a testing module (its HTTP adapter comes after the providers)', async () => {
      const moduleRef = await Test.createTestingModule({ imports: [WidgetsModule] }).compile();
      const other = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), {
        logger: false,
      });
      TelemetryModule.setup(other);
      try {
        await other.init();
        await other.getHttpAdapter().getInstance().ready();
        expect((await other.inject({ method: 'GET', url: '/widgets/9' })).statusCode).toBe(200);
        expect(tracing.spans('GET /widgets/:id')).toHaveLength(1);
        expect(tracing.spans('WidgetsController.findOne')).toHaveLength(1);
      } finally {
        await other.close();
      }
    });

    it('does not trace scrapes of /metrics', async () => {
      await get('/metrics');
      expect(tracing.spans()).toEqual([]);
    });
  });

  describe('handler spans', () => {
    it('names a span after the controller and handler, child of the server span and parent of what the handler does', async () => {
      expect((await get('/widgets/42')).statusCode).toBe(200);
      const handler = only('WidgetsController.findOne');
      expect(handler.attributes).toEqual({
        'nestjs.controller': 'WidgetsController',
        'nestjs.handler': 'findOne',
        'http.route': '/widgets/:id',
      });
      expect(handler.parentSpanContext?.spanId).toBe(only('GET /widgets/:id').spanContext().spanId);
      expect(handler.status.code).toBe(SpanStatusCode.UNSET);
      expect(only('widget.load').parentSpanContext?.spanId).toBe(handler.spanContext().spanId);
    });

    it("gives the application nestjs-otel's TraceService, on the business span @Span made, with no Nest middleware on the routes", async () => {
      expect((await get('/widgets/7')).statusCode).toBe(200);
      expect(only('widget.load').attributes).toEqual({ 'widget.id': '7', 'widget.found': true });
      // nestjs-otel's OpenTelemetryModule would add its WideEventMiddleware, run by middie on every request.
      const fastify = app.getHttpAdapter().getInstance();
      const middlewares = Object.getOwnPropertySymbols(fastify).find(
        (symbol) => symbol.description === 'fastify-middie-middlewares',
      );
      expect(middlewares && Reflect.get(fastify, middlewares)).toEqual([]);
    });

    it('keeps the trace across a request body, which arrives from the socket after the server span began', async () => {
      // Over real HTTP, the body's second half a little later: it completes in a later read of the socket.
      async function* slowBody() {
        yield Buffer.from('{"name":');
        await new Promise((resolve) => setTimeout(resolve, 30));
        yield Buffer.from('"sprocket"}');
      }
      const response = await request(`${await app.getUrl()}/widgets`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: Readable.from(slowBody()),
      });
      await response.body.text();
      expect(response.statusCode).toBe(201);
      const server = only('POST /widgets');
      const handler = only('WidgetsController.create');
      expect(handler.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
      expect(only('widget.create').parentSpanContext?.spanId).toBe(handler.spanContext().spanId);
    });

    it('records an unexpected exception and marks the span ERROR (the answer is a 500)', async () => {
      expect((await get('/widgets/boom')).statusCode).toBe(500);
      const handler = only('WidgetsController.boom');
      expect(handler.status).toEqual({ code: SpanStatusCode.ERROR, message: 'kaput' });
      expect(handler.attributes['error.type']).toBe('Error');
      expect(handler.events.map((event) => event.attributes?.['exception.message'])).toEqual(['kaput']);
    });

    it('records a 4xx HttpException without marking the span ERROR, as the HTTP conventions say for servers', async () => {
      expect((await get('/widgets/gone/7')).statusCode).toBe(404);
      const handler = only('WidgetsController.gone');
      expect(handler.status.code).toBe(SpanStatusCode.UNSET);
      expect(handler.events.map((event) => event.attributes?.['exception.type'])).toEqual([
        'NotFoundException',
      ]);
    });

    it('leaves the routes, status codes and handler names Nest reads from the handlers intact', async () => {
      expect((await app.inject({ method: 'POST', url: '/widgets', payload: {} })).statusCode).toBe(201);
      expect(WidgetsController.prototype.findOne.name).toBe('findOne');
    });
  });

  describe('GET /metrics', () => {
    it('serves Prometheus text by default: route templates (never raw paths), unmatched routes, the service label, no exemplars', async () => {
      await get('/widgets/1');
      await get('/widgets/2');
      await get('/nowhere/3');
      await get('/metrics');
      const response = await get('/metrics');
      expect(response.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      const body = response.body;
      expect(body).toMatch(
        /^http_server_request_duration_seconds_count\{service="product",method="GET",route="\/widgets\/:id",status_code="200"\} [2-9]/m,
      );
      expect(body).toMatch(
        /^http_server_request_duration_seconds_count\{service="product",method="GET",route="unmatched",status_code="404"\} [1-9]/m,
      );
      expect(body).not.toMatch(/route="\/(widgets\/\d|nowhere|metrics)/);
      expect(body).toMatch(/^nodejs_heap_size_used_bytes\{service="product"\}/m);
      expect(body).not.toContain('# {');
    });

    it('serves OpenMetrics when asked, with an exemplar pointing at the server span of the request', async () => {
      await get('/widgets/77');
      const server = only('GET /widgets/:id').spanContext();
      const response = await get('/metrics', { accept: 'application/openmetrics-text; version=1.0.0' });
      expect(response.headers['content-type']).toBe(
        'application/openmetrics-text; version=1.0.0; charset=utf-8',
      );
      expect(response.body).toContain(`# {trace_id="${server.traceId}",span_id="${server.spanId}"}`);
      expect(response.body.endsWith('# EOF\n')).toBe(true);
    });

    it('keeps counter names intact in Prometheus text after an OpenMetrics scrape (which renames them)', async () => {
      new Metrics()
        .counter({
          name: 'orders_total',
          help: 'Order placements by outcome.',
          labelNames: ['outcome'],
          known: { outcome: ['confirmed', 'out_of_stock'] },
        })
        .inc({ outcome: 'confirmed' });
      const openMetrics = await get('/metrics', { accept: 'application/openmetrics-text' });
      expect(openMetrics.body).toMatch(/^# TYPE orders counter$/m);
      expect(openMetrics.body).toMatch(/^orders_total\{outcome="confirmed",service="product"\} 1$/m);
      const text = await get('/metrics');
      expect(text.body).toMatch(/^# TYPE orders_total counter$/m);
      expect(text.body).toMatch(/^orders_total\{outcome="confirmed",service="product"\} 1$/m);
      expect(text.body).toMatch(/^orders_total\{outcome="out_of_stock",service="product"\} 0$/m);
      expect(text.body).toMatch(/^process_cpu_seconds_total\{service="product"\}/m);
    });
  });
});
