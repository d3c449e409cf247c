import { Controller, Get, Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { register } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Principal } from '#lab/auth';
import { createService } from '#lab/bootstrap';
import { ConfigModule, configFor } from '#lab/config';
import { LabError } from '#lab/errors';
import { createServiceLogger } from '#lab/logging';
import { ObservabilityModule } from '#lab/observability';
import { useInMemoryTracing } from '../../telemetry/test/in-memory-tracing.js';
import { delayOf, isExemptFromFaults } from './fault-injection.js';
import { FaultInjection } from './fault-injection.js';
import { FaultState } from './fault-state.js';
import { FaultsService } from './faults.service.js';

@Controller('widgets')
class WidgetsController {
  static calls = 0;

  @Get()
  list() {
    WidgetsController.calls++;
    return { items: [] };
  }
}

const logger = createServiceLogger(configFor('customer'));

@Module({
  imports: [ConfigModule.forService('customer'), ObservabilityModule.forRoot({ logger })],
  controllers: [WidgetsController],
})
class WidgetsModule {}

const tracing = useInMemoryTracing();
const admin: Principal = {
  subject: 'u-42',
  clientId: 'admin-cli',
  scopes: ['admin'],
  tokenId: 'j',
  kind: 'user',
};

const sample = async (name: string, labels: Record<string, string>) => {
  const metric = (await register.getSingleMetric(name)?.get())?.values ?? [];
  return metric.find((value) => Object.entries(labels).every(([key, wanted]) => value.labels[key] === wanted))
    ?.value;
};

describe('fault injection in a service created by the bootstrap lib', () => {
  let app: NestFastifyApplication;
  let faults: FaultState;
  const warnings = vi.spyOn(logger, 'warn');
  const accessRecords = vi.spyOn(logger, 'access');
  const get = (url: string) => app.getHttpAdapter().getInstance().inject({ method: 'GET', url });

  beforeAll(async () => {
    app = await createService('customer', WidgetsModule);
    await app.init();
    faults = app.get(FaultState);
  });
  afterAll(async () => {
    faults.reset();
    await app?.close();
  });
  afterEach(() => {
    faults.reset();
    tracing.exporter.reset();
    warnings.mockClear();
    accessRecords.mockClear();
  });

  it('delays requests by the fixed latency, with an event and attributes on the server span', async () => {
    faults.latency = { minMs: 120, maxMs: 120 };
    const before = (await sample('faults_injected_total', { fault: 'latency' })) ?? 0;
    const started = performance.now();
    const response = await get('/widgets');
    expect(response.statusCode).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(115);
    expect(await sample('faults_injected_total', { fault: 'latency' })).toBe(before + 1);
    const server = tracing.spans().find((span) => span.kind === SpanKind.SERVER);
    expect(server?.attributes).toMatchObject({
      'fault.injected': true,
      'fault.type': 'latency',
      'fault.delay_ms': 120,
    });
    expect(server?.events.map((event) => ({ name: event.name, attributes: event.attributes }))).toEqual([
      { name: 'fault.injected', attributes: { 'fault.type': 'latency', 'fault.delay_ms': 120 } },
    ]);
  });

  it('picks each delay of a range uniformly between its bounds', async () => {
    expect(delayOf({ minMs: 100, maxMs: 500 }, () => 0)).toBe(100);
    expect(delayOf({ minMs: 100, maxMs: 500 }, () => 0.999_999)).toBe(500);
    expect(delayOf({ minMs: 7, maxMs: 7 }, Math.random)).toBe(7);
    faults.latency = { minMs: 40, maxMs: 90 };
    const durations = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const started = performance.now();
        await get('/widgets');
        return performance.now() - started;
      }),
    );
    expect(Math.min(...durations)).toBeGreaterThanOrEqual(38);
    const delays = tracing
      .spans()
      .flatMap((span) => span.events.map((event) => event.attributes?.['fault.delay_ms']));
    expect(delays).toHaveLength(10);
    for (const delay of delays) expect(delay).toSatisfy((ms: number) => ms >= 40 && ms <= 90);
  });

  it('blocks the event loop for the given time on each request, counted, with an event on the server span', async () => {
    faults.eventLoopBlockMs = 150;
    const before = (await sample('faults_injected_total', { fault: 'eventloop' })) ?? 0;
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    // Running: its first tick is the baseline of the next.
    await new Promise((resolve) => setTimeout(resolve, 30));
    const responses = await Promise.all([get('/widgets'), get('/widgets'), get('/metrics')]);
    // The monitor's timer, late by the blocks, records the delay when it next fires.
    await new Promise((resolve) => setTimeout(resolve, 30));
    delay.disable();
    expect(responses.map((response) => response.statusCode)).toEqual([200, 200, 200]);
    // What nodejs_eventloop_lag_* report: the loop itself stalled, not only the requests.
    expect(delay.max).toBeGreaterThanOrEqual(140e6);
    expect(await sample('faults_injected_total', { fault: 'eventloop' })).toBe(before + 2);
    expect(responses[2].body).toContain('fault_injection_active{fault="eventloop",service="customer"} 1');
    const server = tracing.spans().find((span) => span.kind === SpanKind.SERVER);
    expect(server?.attributes).toMatchObject({ 'fault.type': 'eventloop', 'fault.block_ms': 150 });
    expect(server?.events.map((event) => event.attributes)).toEqual([
      { 'fault.type': 'eventloop', 'fault.block_ms': 150 },
    ]);
  });

  it('shows held memory in /metrics: resident and external memory up, the fault active', async () => {
    const metric = async (name: string) =>
      Number(new RegExp(`^${name} (\\S+)$`, 'm').exec((await get('/metrics')).body)?.[1]);
    const before = await metric('nodejs_external_memory_bytes{service="customer"}');
    faults.memoryMb = 32;
    const body = (await get('/metrics')).body;
    expect(body).toContain('fault_injection_active{fault="memory",service="customer"} 1');
    expect(
      (await metric('nodejs_external_memory_bytes{service="customer"}')) - before,
    ).toBeGreaterThanOrEqual(30 * 1024 * 1024);
    faults.reset();
    expect((await get('/metrics')).body).toContain(
      'fault_injection_active{fault="memory",service="customer"} 0',
    );
  });

  it('answers 500 problem+json injected_fault before the handler, counted like any other 500', async () => {
    faults.errorRatio = 1;
    WidgetsController.calls = 0;
    const response = await get('/widgets');
    expect(response.statusCode).toBe(500);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({
      status: 500,
      code: 'injected_fault',
      instance: '/widgets',
      request_id: response.headers['x-request-id'],
    });
    expect(WidgetsController.calls).toBe(0);
    expect(await register.metrics()).toContain(
      'http_server_request_duration_seconds_count{service="customer",method="GET",route="/widgets",status_code="500"} 1',
    );
    expect(accessRecords).toHaveBeenCalledWith(
      'error',
      expect.objectContaining({
        'http.route': '/widgets',
        'http.status_code': 500,
        request_id: response.headers['x-request-id'],
      }),
    );
    const server = tracing.spans().find((span) => span.kind === SpanKind.SERVER);
    expect(server?.status.code).toBe(SpanStatusCode.ERROR);
    expect(server?.attributes).toMatchObject({ 'fault.type': 'errors', 'http.response.status_code': 500 });
    expect(response.json<{ trace_id?: string }>().trace_id).toBe(server?.spanContext().traceId);
  });

  it('fails about the given share of requests', async () => {
    faults.errorRatio = 0.5;
    const statuses = await Promise.all(
      Array.from({ length: 200 }, async () => (await get('/widgets')).statusCode),
    );
    const failed = statuses.filter((status) => status === 500).length;
    expect(failed).toBeGreaterThan(60);
    expect(failed).toBeLessThan(140);
    expect(statuses.filter((status) => status !== 500).every((status) => status === 200)).toBe(true);
  });

  it('never touches the fault switch, probes, scrapes, the signing keys or the API description, and shows active faults in /metrics', async () => {
    for (const url of [
      '/admin/faults',
      '/api/admin/faults/order',
      '/health/ready',
      '/health/live',
      '/metrics',
      '/.well-known/jwks.json',
      '/.well-known/openid-configuration',
      '/openapi.json',
      '/docs',
      '/docs/swagger-ui-bundle.js',
    ]) {
      expect(isExemptFromFaults(url)).toBe(true);
    }
    expect(isExemptFromFaults('/docsx')).toBe(false);
    expect(isExemptFromFaults('/widgets')).toBe(false);
    expect(isExemptFromFaults('/admin/faultsx')).toBe(false);
    expect(isExemptFromFaults('/.well-knownx')).toBe(false);
    expect(isExemptFromFaults('/oauth/token')).toBe(false);
    faults.errorRatio = 1;
    faults.latency = { minMs: 1000, maxMs: 1000 };
    const started = performance.now();
    const metrics = await get('/metrics');
    expect(performance.now() - started).toBeLessThan(900);
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toContain('fault_injection_active{fault="errors",service="customer"} 1');
    expect(metrics.body).toContain('fault_injection_active{fault="latency",service="customer"} 1');
    expect(metrics.body).toContain('fault_injection_active{fault="readiness",service="customer"} 0');
    expect(metrics.body).toMatch(/faults_injected_total\{fault="errors",service="customer"\} \d+/);
    // Admin-only: the switch itself is there, behind the token check.
    expect((await get('/admin/faults')).statusCode).toBe(401);
    faults.reset();
    expect((await get('/metrics')).body).toContain(
      'fault_injection_active{fault="errors",service="customer"} 0',
    );
  });

  it('logs a warning naming who changed what, and refuses bad bodies with the field named', () => {
    const service = app.get(FaultsService);
    expect(service.update(Buffer.from('{"latency":{"minMs":5,"maxMs":5}}'), admin)).toEqual({
      service: 'customer',
      faults: {
        latency: { minMs: 5, maxMs: 5 },
        errorRatio: 0,
        unreachable: [],
        readinessFailing: false,
        memoryMb: 0,
        eventLoopBlockMs: 0,
      },
    });
    expect(warnings).toHaveBeenCalledWith(
      expect.objectContaining({
        message: 'fault injection changed on customer by u-42 (client admin-cli): latency off -> 5 ms',
        'enduser.id': 'u-42',
        client_id: 'admin-cli',
      }),
      'FaultInjection',
    );
    warnings.mockClear();
    service.update({ latency: { minMs: 5, maxMs: 5 } }, admin);
    expect(warnings).not.toHaveBeenCalled();
    expect(service.reset(admin).faults.latency).toBeNull();
    expect(warnings).toHaveBeenCalledWith(
      expect.objectContaining({ message: expect.stringContaining('latency 5 ms -> off') }),
      'FaultInjection',
    );
    let refused: unknown;
    try {
      service.update({ errorRatio: 2 }, admin);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(LabError);
    expect(refused).toMatchObject({
      code: 'invalid_fault',
      status: 400,
      details: { errors: ['errorRatio must be a number from 0 to 1'] },
    });
    expect(() => service.update(Buffer.from('{'), admin)).toThrow(LabError);
  });

  it('counts calls failed as unreachable and marks the active span', async () => {
    faults.unreachable.add('product');
    const before = (await sample('faults_injected_total', { fault: 'unreachable' })) ?? 0;
    trace.getTracer('test').startActiveSpan('caller', (span) => {
      expect(app.get(FaultInjection).isUnreachable('product')).toBe(true);
      expect(app.get(FaultInjection).isUnreachable('oauth')).toBe(false);
      span.end();
    });
    expect(await sample('faults_injected_total', { fault: 'unreachable' })).toBe(before + 1);
    expect(tracing.spans('caller')[0].events[0]).toMatchObject({
      name: 'fault.injected',
      attributes: { 'fault.type': 'unreachable', 'peer.service': 'product' },
    });
  });
});
