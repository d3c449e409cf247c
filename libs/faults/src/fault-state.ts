import type { ServiceName } from '#lab/config';
import { recordInjected } from './fault-metrics.js';

/** Added latency: a fixed delay (`minMs === maxMs`) or a uniformly random one in [minMs, maxMs]. */
export interface LatencyFault {
  readonly minMs: number;
  readonly maxMs: number;
}

/** The kinds of fault, as the `fault` label of `fault_injection_active` and `faults_injected_total`. */
export const FAULT_KINDS = ['latency', 'errors', 'unreachable', 'readiness'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The faults of a service as the admin endpoint shows them (JSON: `null` for no latency). */
export interface FaultsSnapshot {
  latency: LatencyFault | null;
  errorRatio: number;
  unreachable: ServiceName[];
  readinessFailing: boolean;
}

/**
 * The faults switched on in this process (one service per process). Off by default; changed at run
 * time through the admin endpoint, read on the request path and by the HTTP client.
 */
export class FaultState {
  latency: LatencyFault | undefined;
  /** Share of requests (0–1) answered 500 by the fault, before reaching the handler. */
  errorRatio = 0;
  /** Upstream services this one behaves as if it could not reach. */
  readonly unreachable = new Set<ServiceName>();
  /** `/health/ready` answers 503 while true. */
  readinessFailing = false;

  /**
   * True while calls to `service` must fail as if it were unreachable. The HTTP client asks once per
   * outgoing call, so a true answer counts in `faults_injected_total{fault="unreachable"}` and adds a
   * `fault.injected` event to the active span.
   */
  isUnreachable(service: ServiceName): boolean {
    const unreachable = this.unreachable.size > 0 && this.unreachable.has(service);
    if (unreachable) recordInjected('unreachable', { 'peer.service': service });
    return unreachable;
  }

  /** Whether a kind of fault is switched on (1 in `fault_injection_active`). */
  isActive(kind: FaultKind): boolean {
    switch (kind) {
      case 'latency':
        return this.latency !== undefined;
      case 'errors':
        return this.errorRatio > 0;
      case 'unreachable':
        return this.unreachable.size > 0;
      case 'readiness':
        return this.readinessFailing;
    }
  }

  snapshot(): FaultsSnapshot {
    return {
      latency: this.latency ? { minMs: this.latency.minMs, maxMs: this.latency.maxMs } : null,
      errorRatio: this.errorRatio,
      unreachable: [...this.unreachable].sort(),
      readinessFailing: this.readinessFailing,
    };
  }

  /** Everything off. */
  reset(): void {
    this.latency = undefined;
    this.errorRatio = 0;
    this.unreachable.clear();
    this.readinessFailing = false;
  }
}

/** This process's faults. */
export const faults = new FaultState();
