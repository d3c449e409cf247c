import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable } from '@nestjs/common';
import type { Attributes } from '@opentelemetry/api';
import { TraceService } from 'nestjs-otel';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServiceName } from '#lab/config';
import { type ErrorCode, LabError } from '#lab/errors';
import { Metrics } from '#lab/telemetry';
import { FAULT_KINDS, type FaultKind, FaultState, type LatencyFault } from './fault-state.js';

export const INJECTED_FAULT_CODE = 'injected_fault' satisfies ErrorCode;
export const FAULT_ACTIVE_METRIC = 'fault_injection_active';
export const FAULTS_INJECTED_METRIC = 'faults_injected_total';

/**
 * Never delayed nor failed: the fault switch itself, probes and scrapes, and the signing keys
 * (`/.well-known/jwks.json`, `/.well-known/openid-configuration`): every service verifies the admin's
 * token with them, so a fault on oauth that failed them would, once the cached keys aged out, lock
 * the fault switch out of every service, the one that could undo it included. The API description
 * (`/openapi.json`, the gateway's `/docs`) stays readable too: it is how a user finds the switch.
 */
const EXEMPT_PATHS =
  /^\/(?:(?:api\/)?admin\/faults|health|metrics|\.well-known|openapi\.json|docs)(?:[/?]|$)/;

export function isExemptFromFaults(url: string): boolean {
  return EXEMPT_PATHS.test(url);
}

/** A fixed delay, or uniformly random in [minMs, maxMs]. */
export function delayOf(latency: LatencyFault, random: () => number = Math.random): number {
  return latency.minMs + Math.floor(random() * (latency.maxMs - latency.minMs + 1));
}

/**
 * Keeps the JavaScript thread busy for `ms`, as synchronous work would (a hash, a big JSON, a regular
 * expression): timers, I/O and every other request wait until it returns.
 */
export function blockEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy: that is the fault
  }
}

/**
 * Where the faults of {@link FaultState} take effect: the request hook (event loop block, latency and
 * errors), the HTTP client's question before each call (`unreachable`) and readiness; the `memory` fault
 * is the state itself (it holds the memory). Each time a fault changes something it counts in
 * `faults_injected_total{fault}` and marks the active span (on the request path, the server span): a
 * `fault.injected` event with `fault.type` and the details, and `fault.injected` / `fault.type`
 * attributes (held memory affects no request: it is never counted). `fault_injection_active{fault}` is
 * read from the state at each scrape, so it can never disagree with it; every kind is there from the
 * start, at 0.
 */
@Injectable()
export class FaultInjection {
  private readonly injected;
  private readonly installedOn = new WeakSet<FastifyInstance>();
  /** Picks delays and which requests fail (tests give their own). */
  random: () => number = Math.random;

  constructor(
    private readonly state: FaultState,
    private readonly traces: TraceService,
    metrics: Metrics,
  ) {
    this.injected = metrics.counter({
      name: FAULTS_INJECTED_METRIC,
      help: 'Requests, outgoing calls and readiness probes affected by an injected fault, by fault.',
      labelNames: ['fault'],
      known: { fault: FAULT_KINDS },
    });
    metrics.gauge({
      name: FAULT_ACTIVE_METRIC,
      help: 'Whether a fault is injected in this service (1) or not (0), by fault.',
      labelNames: ['fault'],
      collect: (gauge) => {
        for (const kind of FAULT_KINDS) gauge.set({ fault: kind }, this.state.isActive(kind) ? 1 : 0);
      },
    });
  }

  /**
   * Event loop, latency and error faults on every request but {@link isExemptFromFaults}: a `preHandler`
   * hook, so it runs after every `onRequest` hook (the server span, the request context of the logs) and
   * before guards and the handler. An injected error is thrown as a 500 `injected_fault`, answered by the
   * problem+json filter, and still goes through `onResponse` (the duration histogram, the server span's
   * status, the access record). The block comes first (the exempt paths wait behind it too, as behind
   * any synchronous work), then the delay, then the error. Called by
   * `ObservabilityModule.setup()`; once per Fastify instance.
   */
  install(fastify: FastifyInstance): void {
    if (this.installedOn.has(fastify)) return;
    this.installedOn.add(fastify);
    fastify.addHook('preHandler', async (request: FastifyRequest) => {
      const { state } = this;
      if (state.latency === undefined && state.errorRatio === 0 && state.eventLoopBlockMs === 0) return;
      if (isExemptFromFaults(request.url)) return;
      const block = state.eventLoopBlockMs;
      if (block > 0) {
        this.record('eventloop', { 'fault.block_ms': block });
        blockEventLoop(block);
      }
      const latency = state.latency;
      if (latency) {
        const delay = delayOf(latency, this.random);
        this.record('latency', { 'fault.delay_ms': delay });
        await sleep(delay);
      }
      const ratio = state.errorRatio;
      if (ratio > 0 && this.random() < ratio) {
        this.record('errors', { 'fault.error_ratio': ratio });
        throw new LabError(
          INJECTED_FAULT_CODE,
          'an error was injected by the fault injection of this service',
        );
      }
    });
  }

  /**
   * True while calls to `service` must fail as if it were unreachable. The HTTP client asks once per
   * outgoing call, so a true answer is counted and marks the active span.
   */
  isUnreachable(service: ServiceName): boolean {
    const unreachable = this.state.unreachable.size > 0 && this.state.unreachable.has(service);
    if (unreachable) this.record('unreachable', { 'peer.service': service });
    return unreachable;
  }

  /** True while readiness must fail (`readinessFailing`); each probe it fails is counted. */
  failsReadiness(): boolean {
    if (this.state.readinessFailing) this.record('readiness');
    return this.state.readinessFailing;
  }

  private record(kind: FaultKind, attributes: Attributes = {}): void {
    this.injected.inc({ fault: kind });
    const span = this.traces.getSpan();
    if (!span?.isRecording()) return;
    span.addEvent('fault.injected', { 'fault.type': kind, ...attributes });
    span.setAttributes({ 'fault.injected': true, 'fault.type': kind, ...attributes });
  }
}
