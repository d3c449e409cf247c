import { Injectable } from '@nestjs/common';
import type { ServiceName } from '#lab/config';

/** Added latency: a fixed delay (`minMs === maxMs`) or a uniformly random one in [minMs, maxMs]. */
export interface LatencyFault {
  readonly minMs: number;
  readonly maxMs: number;
}

/** The kinds of fault, as the `fault` label of `fault_injection_active` and `faults_injected_total`. */
export const FAULT_KINDS = ['latency', 'errors', 'unreachable', 'readiness', 'memory', 'eventloop'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The faults of a service as the admin endpoint shows them (JSON: `null` for no latency). */
export interface FaultsSnapshot {
  latency: LatencyFault | null;
  errorRatio: number;
  unreachable: ServiceName[];
  readinessFailing: boolean;
  memoryMb: number;
  eventLoopBlockMs: number;
}

const MIB = 1024 * 1024;

/** ArrayBuffer.prototype.transfer (ES2024: Node 22 has it, the TypeScript lib of this project not yet). */
interface TransferableBuffer {
  transfer(newLength: number): ArrayBuffer;
}

/** Detaches the buffer's memory, which frees it at once (not at some later garbage collection). */
const release = (buffer: Buffer) => (buffer.buffer as unknown as TransferableBuffer).transfer(0);

/**
 * The faults switched on in this service (a provider of `FaultsModule`, one per application). Off by
 * default; changed at run time through the admin endpoint, read by {@link FaultInjection} on the request
 * path, in the HTTP client and in readiness.
 */
@Injectable()
export class FaultState {
  latency: LatencyFault | undefined;
  /** Share of requests (0–1) answered 500 by the fault, before reaching the handler. */
  errorRatio = 0;
  /** Upstream services this one behaves as if it could not reach. */
  readonly unreachable = new Set<ServiceName>();
  /** `/health/ready` answers 503 while true. */
  readinessFailing = false;
  /** Synchronous work (ms) each request does before its handler: the whole event loop waits meanwhile. */
  eventLoopBlockMs = 0;
  /** The memory held by the `memory` fault: 1 MiB buffers, outside the JavaScript heap. */
  private ballast: Buffer[] = [];

  /** MiB of memory held while the `memory` fault is on (0: none). */
  get memoryMb(): number {
    return this.ballast.length;
  }

  /**
   * Allocates (or frees) that much memory and holds it. The buffers are filled, so every page is
   * resident: `process_resident_memory_bytes` and `nodejs_external_memory_bytes` grow by that much,
   * the heap does not (a leak of buffers or native memory, not of JavaScript objects; the V8 heap
   * limit of a small container is not what the fault is about). Lowering it frees the difference at once.
   */
  set memoryMb(mb: number) {
    // Switching the fault off lowers resident memory now: an alert on it must not wait for a collection.
    for (const buffer of this.ballast.splice(mb)) release(buffer);
    while (this.ballast.length < mb) this.ballast.push(Buffer.alloc(MIB, 1));
  }

  /** True while calls to `service` must fail as if it were unreachable. */
  isUnreachable(service: ServiceName): boolean {
    return this.unreachable.has(service);
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
      case 'memory':
        return this.memoryMb > 0;
      case 'eventloop':
        return this.eventLoopBlockMs > 0;
    }
  }

  snapshot(): FaultsSnapshot {
    return {
      latency: this.latency ? { minMs: this.latency.minMs, maxMs: this.latency.maxMs } : null,
      errorRatio: this.errorRatio,
      unreachable: [...this.unreachable].sort(),
      readinessFailing: this.readinessFailing,
      memoryMb: this.memoryMb,
      eventLoopBlockMs: this.eventLoopBlockMs,
    };
  }

  /** Everything off. */
  reset(): void {
    this.latency = undefined;
    this.errorRatio = 0;
    this.unreachable.clear();
    this.readinessFailing = false;
    this.memoryMb = 0;
    this.eventLoopBlockMs = 0;
  }
}
