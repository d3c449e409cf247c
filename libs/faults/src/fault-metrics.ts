import { type Attributes, trace } from '@opentelemetry/api';
import { Gauge } from 'prom-client';
import { BusinessCounter, sharedMetric } from '#lab/telemetry';
import type { FaultKind, FaultState } from './fault-state.js';

/** Same list as `FAULT_KINDS` (kept here too: fault-state.ts imports this module). */
const KINDS: readonly FaultKind[] = ['latency', 'errors', 'unreachable', 'readiness'];

export const FAULT_ACTIVE_METRIC = 'fault_injection_active';
export const FAULTS_INJECTED_METRIC = 'faults_injected_total';

/** Requests (and outgoing calls, readiness probes) a fault changed, by kind of fault. */
export const faultsInjectedTotal = new BusinessCounter<FaultKind>(
  FAULTS_INJECTED_METRIC,
  'Requests, outgoing calls and readiness probes affected by an injected fault, by fault.',
  'fault',
  KINDS,
);

/**
 * `fault_injection_active{fault}`: 1 while that kind of fault is on, read from `state` at each scrape
 * (so it can never disagree with the state). On the default registry, so it carries the `service`
 * label like every other series; every kind is there from the start, at 0.
 */
export function useFaultMetrics(state: FaultState): Gauge<'fault'> {
  faultsInjectedTotal.init();
  return sharedMetric(
    FAULT_ACTIVE_METRIC,
    () =>
      new Gauge<'fault'>({
        name: FAULT_ACTIVE_METRIC,
        help: 'Whether a fault is injected in this service (1) or not (0), by fault.',
        labelNames: ['fault'],
        collect() {
          for (const kind of KINDS) this.set({ fault: kind }, state.isActive(kind) ? 1 : 0);
        },
      }),
  );
}

/**
 * Counts one request affected by a fault and records it on the active span (the server span on the
 * request path): a `fault.injected` event with `fault.type` and the given attributes, and
 * `fault.injected` / `fault.type` attributes on the span itself.
 */
export function recordInjected(kind: FaultKind, attributes: Attributes = {}): void {
  faultsInjectedTotal.inc(kind);
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return;
  span.addEvent('fault.injected', { 'fault.type': kind, ...attributes });
  span.setAttributes({ 'fault.injected': true, 'fault.type': kind, ...attributes });
}
