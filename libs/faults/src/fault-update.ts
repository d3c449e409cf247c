import { SERVICE_NAMES, type ServiceName } from '#lab/config';
import type { FaultState, LatencyFault } from './fault-state.js';

/** The longest delay that may be injected (ms). */
export const MAX_LATENCY_MS = 60_000;
/** The most memory the `memory` fault may hold (MiB): four times a service's container limit. */
export const MAX_MEMORY_MB = 1024;
/** The longest synchronous block per request (ms): beyond it the caller's timeout is all one sees. */
export const MAX_EVENT_LOOP_BLOCK_MS = 5_000;

/** A validated change: only the fields present are changed; `latency: null` clears it. */
export interface FaultUpdate {
  latency?: LatencyFault | null;
  errorRatio?: number;
  unreachable?: ServiceName[];
  readinessFailing?: boolean;
  memoryMb?: number;
  eventLoopBlockMs?: number;
}

/** A body the admin endpoint refuses; every message starts with the field it is about. */
export class InvalidFaultUpdate extends Error {
  constructor(readonly errors: readonly string[]) {
    super(errors.join('; '));
    this.name = 'InvalidFaultUpdate';
  }
}

const FIELDS = ['latency', 'errorRatio', 'unreachable', 'readinessFailing', 'memoryMb', 'eventLoopBlockMs'];
const LATENCY_FIELDS = ['minMs', 'maxMs'];

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);

/**
 * Checks a `PUT /admin/faults` body strictly (nothing is changed unless all of it is valid):
 * `latency` `{minMs, maxMs}` integers with 0 ≤ minMs ≤ maxMs ≤ 60000, or null; `errorRatio` 0–1;
 * `unreachable` known service names other than `self`; `readinessFailing` a boolean; `memoryMb` an integer
 * from 0 to 1024 and `eventLoopBlockMs` one from 0 to 5000 (0: off); no other field.
 */
export function parseFaultUpdate(body: unknown, self: ServiceName): FaultUpdate {
  if (!isObject(body)) throw new InvalidFaultUpdate(['body must be a JSON object']);
  const errors: string[] = [];
  const update: FaultUpdate = {};
  for (const key of Object.keys(body)) {
    if (!FIELDS.includes(key)) errors.push(`${key} is not a known field (known: ${FIELDS.join(', ')})`);
  }

  if ('latency' in body) {
    const latency = body.latency;
    if (latency === null) update.latency = null;
    else if (!isObject(latency)) errors.push('latency must be an object {minMs, maxMs} or null');
    else {
      for (const key of Object.keys(latency)) {
        if (!LATENCY_FIELDS.includes(key))
          errors.push(`latency.${key} is not a known field (known: minMs, maxMs)`);
      }
      const { minMs, maxMs } = latency;
      const bad = (name: string, value: unknown) =>
        typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_LATENCY_MS
          ? `latency.${name} must be an integer from 0 to ${MAX_LATENCY_MS} (ms)`
          : undefined;
      const problems = [bad('minMs', minMs), bad('maxMs', maxMs)].filter((p): p is string => p !== undefined);
      errors.push(...problems);
      if (problems.length === 0) {
        if ((minMs as number) > (maxMs as number))
          errors.push('latency.minMs must not be greater than latency.maxMs');
        else update.latency = { minMs: minMs as number, maxMs: maxMs as number };
      }
    }
  }

  if ('errorRatio' in body) {
    const ratio = body.errorRatio;
    if (typeof ratio !== 'number' || !Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
      errors.push('errorRatio must be a number from 0 to 1');
    } else update.errorRatio = ratio;
  }

  if ('unreachable' in body) {
    const services = body.unreachable;
    if (!Array.isArray(services)) errors.push('unreachable must be an array of service names');
    else {
      const others = SERVICE_NAMES.filter((name) => name !== self);
      const valid: ServiceName[] = [];
      for (const name of services as unknown[]) {
        if (name === self) errors.push(`unreachable cannot name the service itself (${self})`);
        else if (typeof name !== 'string' || !others.includes(name as ServiceName)) {
          errors.push(
            `unreachable: ${JSON.stringify(name)} is not a service name (one of ${others.join(', ')})`,
          );
        } else if (!valid.includes(name as ServiceName)) valid.push(name as ServiceName);
      }
      update.unreachable = valid;
    }
  }

  if ('readinessFailing' in body) {
    if (typeof body.readinessFailing !== 'boolean') errors.push('readinessFailing must be true or false');
    else update.readinessFailing = body.readinessFailing;
  }

  const integer = (field: 'memoryMb' | 'eventLoopBlockMs', max: number, unit: string) => {
    if (!(field in body)) return;
    const value = body[field];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
      errors.push(`${field} must be an integer from 0 to ${max} (${unit}, 0 for off)`);
    } else update[field] = value;
  };
  integer('memoryMb', MAX_MEMORY_MB, 'MiB');
  integer('eventLoopBlockMs', MAX_EVENT_LOOP_BLOCK_MS, 'ms');

  if (errors.length > 0) throw new InvalidFaultUpdate(errors);
  return update;
}

/** Applies a validated update; returns what changed, in words (empty when nothing did). */
export function applyFaultUpdate(state: FaultState, update: FaultUpdate): string[] {
  const before = state.snapshot();
  if (update.latency !== undefined) state.latency = update.latency ?? undefined;
  if (update.errorRatio !== undefined) state.errorRatio = update.errorRatio;
  if (update.unreachable !== undefined) {
    state.unreachable.clear();
    for (const service of update.unreachable) state.unreachable.add(service);
  }
  if (update.readinessFailing !== undefined) state.readinessFailing = update.readinessFailing;
  if (update.memoryMb !== undefined) state.memoryMb = update.memoryMb;
  if (update.eventLoopBlockMs !== undefined) state.eventLoopBlockMs = update.eventLoopBlockMs;
  return describeChanges(before, state);
}

/** Switches everything off; returns what changed, in words. */
export function resetFaults(state: FaultState): string[] {
  const before = state.snapshot();
  state.reset();
  return describeChanges(before, state);
}

function describeChanges(before: ReturnType<FaultState['snapshot']>, state: FaultState): string[] {
  const after = state.snapshot();
  const changes: string[] = [];
  const latency = (value: LatencyFault | null) =>
    value === null
      ? 'off'
      : value.minMs === value.maxMs
        ? `${value.minMs} ms`
        : `${value.minMs}-${value.maxMs} ms`;
  if (latency(before.latency) !== latency(after.latency)) {
    changes.push(`latency ${latency(before.latency)} -> ${latency(after.latency)}`);
  }
  if (before.errorRatio !== after.errorRatio)
    changes.push(`errors ${before.errorRatio} -> ${after.errorRatio}`);
  const list = (names: readonly string[]) => (names.length === 0 ? 'none' : names.join(','));
  if (list(before.unreachable) !== list(after.unreachable)) {
    changes.push(`unreachable ${list(before.unreachable)} -> ${list(after.unreachable)}`);
  }
  if (before.readinessFailing !== after.readinessFailing) {
    changes.push(
      `readiness ${before.readinessFailing ? 'failing' : 'ok'} -> ${after.readinessFailing ? 'failing' : 'ok'}`,
    );
  }
  const amount = (value: number, unit: string) => (value === 0 ? 'off' : `${value} ${unit}`);
  if (before.memoryMb !== after.memoryMb) {
    changes.push(`memory ${amount(before.memoryMb, 'MiB')} -> ${amount(after.memoryMb, 'MiB')}`);
  }
  if (before.eventLoopBlockMs !== after.eventLoopBlockMs) {
    changes.push(
      `eventloop ${amount(before.eventLoopBlockMs, 'ms')} -> ${amount(after.eventLoopBlockMs, 'ms')}`,
    );
  }
  return changes;
}
