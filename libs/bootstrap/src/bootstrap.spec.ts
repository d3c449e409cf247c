import { Writable } from 'node:stream';
import fastifyHelmet from '@fastify/helmet';
import { Controller, Get, Module, NotFoundException, type Type } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { SpanKind } from '@opentelemetry/api';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigModule } from '#lab/config';
import { FaultState } from '#lab/faults';
import { LabLogger } from '#lab/logging';
import { ObservabilityModule } from '#lab/observability';
import { useInMemoryTracing } from '../../telemetry/test/in-memory-tracing.js';
import { createService, describeStartupError, SECURITY_HEADERS } from './bootstrap.js';

const tracing = useInMemoryTracing();

@Controller('widgets')
class WidgetsController {
  @Get()
  list() {
    return [];
  }

  @Get('missing')
  missing() {
    throw new NotFoundException('no such widget');
  }
}

@Module({ controllers: [WidgetsController] })
class WidgetsModule {}

/** A logger whose JSON lines the spec reads. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: new LabLogger({ service: 'customer', level: 'info', stdout }), lines };
}

describe(createService.name, () => {
  let app: NestFastifyApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
    tracing.exporter.reset();
  });

  // The AppModule's imports in either order: the hooks are added by ObservabilityModule.setup(), in one order.
  for (const order of ['observability first', 'observability last'] as const) {
    it(`wires handler and server spans, the access record's trace ids and the fault hook (${order})`, async () => {
      const { logger, lines } = capturingLogger();
      const imports = [
        ConfigModule.forService('customer'),
        WidgetsModule,
        ObservabilityModule.forRoot({ logger }),
      ];
      @Module({ imports: order === 'observability first' ? [...imports].reverse() : imports })
      class AppModule {}
      app = await createService('customer', AppModule);
      await app.init();
      app.get(FaultState).latency = { minMs: 1, maxMs: 1 };

      const response = await app.inject({ method: 'GET', url: '/widgets' });
      expect(response.statusCode).toBe(200);
      const server = tracing.spans().find((span) => span.kind === SpanKind.SERVER);
      // The fault hook ran inside the server span; the access record carries that span's ids.
      expect(server?.attributes).toMatchObject({ 'http.route': '/widgets', 'fault.type': 'latency' });
      expect(lines.find((line) => line.context === 'AccessLog')).toMatchObject({
        message: 'GET /widgets 200',
        trace_id: server?.spanContext().traceId,
        span_id: server?.spanContext().spanId,
      });
      expect(tracing.spans('WidgetsController.list')).toHaveLength(1);
      expect((await app.inject({ method: 'GET', url: '/metrics' })).body).toContain(
        'http_server_request_duration_seconds',
      );
    });
  }

  it("sends @fastify/helmet's security headers (defaults, no CSP) on answers, errors and unknown routes", async () => {
    const reference = Fastify();
    await reference.register(fastifyHelmet, { contentSecurityPolicy: false });
    reference.get('/widgets', async () => []);
    const { logger } = capturingLogger();
    @Module({
      imports: [ConfigModule.forService('customer'), WidgetsModule, ObservabilityModule.forRoot({ logger })],
    })
    class AppModule {}
    app = await createService('customer', AppModule);
    await app.init();
    const generic = new Set(['content-type', 'content-length', 'date', 'connection']);
    try {
      for (const url of ['/widgets', '/widgets/missing', '/nowhere']) {
        const expected = Object.entries((await reference.inject({ method: 'GET', url })).headers).filter(
          ([name]) => !generic.has(name),
        );
        const { headers } = await app.inject({ method: 'GET', url });
        // Same names, values and order, on every kind of answer.
        expect(Object.entries(headers).filter(([name]) => expected.some(([n]) => n === name))).toEqual(
          expected,
        );
        expect(expected.map(([name]) => name)).toEqual(SECURITY_HEADERS.map(([name]) => name.toLowerCase()));
        expect(headers['x-request-id']).toEqual(expect.any(String));
      }
    } finally {
      await reference.close();
    }
  });

  it('refuses an AppModule that does not import ObservabilityModule, naming it', async () => {
    @Module({ imports: [ConfigModule.forService('customer'), WidgetsModule] })
    class BareModule {}
    await expect(createService('customer', BareModule as Type<unknown>)).rejects.toThrow(
      'BareModule must import ObservabilityModule.forRoot()',
    );
  });
});

describe(describeStartupError.name, () => {
  const mongoDown = () =>
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { name: 'MongoNetworkError' });

  it('names MongoDB and a taken port also when a start-up step wrapped the error', () => {
    expect(describeStartupError(mongoDown())).toBe(
      'cannot reach MongoDB (check MONGO_URL): connect ECONNREFUSED 127.0.0.1:1',
    );
    const seeding = new Error('seeding the admin account a@b.c failed: connect ECONNREFUSED 127.0.0.1:1', {
      cause: mongoDown(),
    });
    expect(describeStartupError(seeding)).toBe(
      'cannot reach MongoDB (check MONGO_URL): seeding the admin account a@b.c failed: connect ECONNREFUSED 127.0.0.1:1',
    );
    const taken = Object.assign(new Error('listen EADDRINUSE: address already in use'), {
      code: 'EADDRINUSE',
    });
    expect(describeStartupError(new Error('listening failed', { cause: taken }))).toBe(
      "listening failed: the port is taken (set the service's *_PORT variable)",
    );
  });

  it('keeps the stack of what a start-up step wrapped', () => {
    const inner = new TypeError('cannot read properties of undefined');
    const described = describeStartupError(new Error('seeding the OAuth client x failed', { cause: inner }));
    expect(described).toContain('seeding the OAuth client x failed');
    expect(described).toContain(`caused by: ${inner.stack}`);
  });
});
