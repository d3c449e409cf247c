import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { recordInjected } from './fault-metrics.js';
import { type FaultState, faults, type LatencyFault } from './fault-state.js';

export const INJECTED_FAULT_CODE = 'injected_fault';

/** Builds the problem+json body of an injected error (the bootstrap lib's `problem`). */
export type ProblemFactory = (
  request: FastifyRequest,
  status: number,
  detail: string,
  extra: Record<string, unknown>,
) => object;

/**
 * Never delayed nor failed: the fault switch itself, probes and scrapes, and the signing keys
 * (`/.well-known/jwks.json`, `/.well-known/openid-configuration`): every service verifies the admin's
 * token with them, so a fault on oauth that failed them would, once the cached keys aged out, lock
 * the fault switch out of every service, the one that could undo it included.
 */
const EXEMPT_PATHS = /^\/(?:(?:api\/)?admin\/faults|health|metrics|\.well-known)(?:[/?]|$)/;

export function isExemptFromFaults(url: string): boolean {
  return EXEMPT_PATHS.test(url);
}

/** A fixed delay, or uniformly random in [minMs, maxMs]. */
export function delayOf(latency: LatencyFault, random: () => number = Math.random): number {
  return latency.minMs + Math.floor(random() * (latency.maxMs - latency.minMs + 1));
}

export interface FaultInjectionOptions {
  readonly problem: ProblemFactory;
  readonly contentType?: string;
  readonly state?: FaultState;
  readonly random?: () => number;
}

/**
 * Latency and error faults on every request but {@link isExemptFromFaults}: a `preHandler` hook, so it
 * runs after every `onRequest` hook (the server span, the request context of the logs) and before
 * guards and the handler; an injected 500 still goes through `onResponse` (the duration histogram,
 * the server span's status, the access record). The delay comes first, then the error.
 */
export function installFaultInjection(fastify: FastifyInstance, options: FaultInjectionOptions): void {
  const state = options.state ?? faults;
  const random = options.random ?? Math.random;
  const contentType = options.contentType ?? 'application/problem+json';
  fastify.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    if (state.latency === undefined && state.errorRatio === 0) return;
    if (isExemptFromFaults(request.url)) return;
    const latency = state.latency;
    if (latency) {
      const delay = delayOf(latency, random);
      recordInjected('latency', { 'fault.delay_ms': delay });
      await sleep(delay);
    }
    const ratio = state.errorRatio;
    if (ratio > 0 && random() < ratio) {
      recordInjected('errors', { 'fault.error_ratio': ratio });
      const body = options.problem(
        request,
        500,
        'an error was injected by the fault injection of this service',
        {
          code: INJECTED_FAULT_CODE,
        },
      );
      return reply.code(500).type(contentType).send(body);
    }
  });
}
