import { Writable } from 'node:stream';
import { Controller, Get, Module, type Type } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { SpanKind } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigModule } from '#lab/config';
import { FaultState } from '#lab/faults';
import { LabLogger } from '#lab/logging';
import { ObservabilityModule } from '#lab/observability';
import { useInMemoryTracing } from '../../telemetry/test/in-memory-tracing.js';
import { createService } from './bootstrap.js';

const tracing = useInMemoryTracing();

@Controller('widgets')
class WidgetsController {
  @Get()
  list() {
    return [];
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

  it('refuses an AppModule that does not import ObservabilityModule, naming it', async () => {
    @Module({ imports: [ConfigModule.forService('customer'), WidgetsModule] })
    class BareModule {}
    await expect(createService('customer', BareModule as Type<unknown>)).rejects.toThrow(
      'BareModule must import ObservabilityModule.forRoot()',
    );
  });
});
