import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FaultState } from './fault-state.js';
import { applyFaultUpdate, InvalidFaultUpdate, parseFaultUpdate, resetFaults } from './fault-update.js';
import { SERVICE_ENV } from '../../../scripts/service-flags.mjs';

const errorsOf = (body: unknown) => {
  try {
    parseFaultUpdate(body, 'order');
  } catch (error) {
    if (error instanceof InvalidFaultUpdate) return error.errors;
    throw error;
  }
  throw new Error('accepted');
};

describe(parseFaultUpdate.name, () => {
  it('accepts any subset of the fields, latency null to clear it', () => {
    expect(parseFaultUpdate({}, 'order')).toEqual({});
    expect(parseFaultUpdate({ latency: { minMs: 0, maxMs: 60_000 }, errorRatio: 1 }, 'order')).toEqual({
      latency: { minMs: 0, maxMs: 60_000 },
      errorRatio: 1,
    });
    expect(
      parseFaultUpdate({ latency: null, unreachable: ['product', 'customer', 'product'] }, 'order'),
    ).toEqual({
      latency: null,
      unreachable: ['product', 'customer'],
    });
    expect(parseFaultUpdate({ readinessFailing: true, errorRatio: 0 }, 'order')).toEqual({
      readinessFailing: true,
      errorRatio: 0,
    });
    expect(parseFaultUpdate({ memoryMb: 1024, eventLoopBlockMs: 0 }, 'order')).toEqual({
      memoryMb: 1024,
      eventLoopBlockMs: 0,
    });
  });

  it('refuses bad values, naming the field', () => {
    expect(errorsOf(null)).toEqual(['body must be a JSON object']);
    expect(errorsOf([1])).toEqual(['body must be a JSON object']);
    expect(errorsOf({ latency: 100 })).toEqual(['latency must be an object {minMs, maxMs} or null']);
    expect(errorsOf({ latency: { minMs: 10 } })).toEqual([
      'latency.maxMs must be an integer from 0 to 60000 (ms)',
    ]);
    expect(errorsOf({ latency: { minMs: -1, maxMs: 5 } })[0]).toMatch(/^latency\.minMs /);
    expect(errorsOf({ latency: { minMs: 0, maxMs: 60_001 } })[0]).toMatch(/^latency\.maxMs /);
    expect(errorsOf({ latency: { minMs: 1.5, maxMs: 5 } })[0]).toMatch(/^latency\.minMs /);
    expect(errorsOf({ latency: { minMs: 500, maxMs: 100 } })).toEqual([
      'latency.minMs must not be greater than latency.maxMs',
    ]);
    expect(errorsOf({ latency: { minMs: 1, maxMs: 2, jitter: 3 } })[0]).toMatch(
      /^latency\.jitter is not a known field/,
    );
    expect(errorsOf({ errorRatio: 1.5 })).toEqual(['errorRatio must be a number from 0 to 1']);
    expect(errorsOf({ errorRatio: '0.5' })).toEqual(['errorRatio must be a number from 0 to 1']);
    expect(errorsOf({ unreachable: 'product' })).toEqual(['unreachable must be an array of service names']);
    expect(errorsOf({ unreachable: ['order'] })).toEqual([
      'unreachable cannot name the service itself (order)',
    ]);
    expect(errorsOf({ unreachable: ['billing'] })[0]).toMatch(
      /^unreachable: "billing" is not a service name/,
    );
    expect(errorsOf({ readinessFailing: 'yes' })).toEqual(['readinessFailing must be true or false']);
    expect(errorsOf({ memoryMb: 1025 })).toEqual([
      'memoryMb must be an integer from 0 to 1024 (MiB, 0 for off)',
    ]);
    expect(errorsOf({ memoryMb: -1 })[0]).toMatch(/^memoryMb /);
    expect(errorsOf({ memoryMb: '200' })[0]).toMatch(/^memoryMb /);
    expect(errorsOf({ eventLoopBlockMs: 2.5 })).toEqual([
      'eventLoopBlockMs must be an integer from 0 to 5000 (ms, 0 for off)',
    ]);
    expect(errorsOf({ eventLoopBlockMs: 5001 })[0]).toMatch(/^eventLoopBlockMs /);
    expect(errorsOf({ chaos: true })[0]).toMatch(/^chaos is not a known field/);
  });

  it('changes nothing unless the whole body is valid', () => {
    const state = new FaultState();
    expect(() =>
      applyFaultUpdate(state, parseFaultUpdate({ errorRatio: 0.5, latency: { minMs: 2 } }, 'order')),
    ).toThrow(InvalidFaultUpdate);
    expect(state.snapshot()).toEqual({
      latency: null,
      errorRatio: 0,
      unreachable: [],
      readinessFailing: false,
      memoryMb: 0,
      eventLoopBlockMs: 0,
    });
  });
});

describe(applyFaultUpdate.name, () => {
  it('applies the fields given, leaves the others, and says what changed', () => {
    const state = new FaultState();
    expect(
      applyFaultUpdate(state, { latency: { minMs: 100, maxMs: 500 }, unreachable: ['product'] }),
    ).toEqual(['latency off -> 100-500 ms', 'unreachable none -> product']);
    expect(applyFaultUpdate(state, { errorRatio: 0.25, readinessFailing: true })).toEqual([
      'errors 0 -> 0.25',
      'readiness ok -> failing',
    ]);
    expect(state.snapshot()).toEqual({
      latency: { minMs: 100, maxMs: 500 },
      errorRatio: 0.25,
      unreachable: ['product'],
      readinessFailing: true,
      memoryMb: 0,
      eventLoopBlockMs: 0,
    });
    expect(state.isUnreachable('product')).toBe(true);
    expect(state.isUnreachable('customer')).toBe(false);
    expect(applyFaultUpdate(state, { errorRatio: 0.25 })).toEqual([]);
    expect(applyFaultUpdate(state, { memoryMb: 3, eventLoopBlockMs: 300 })).toEqual([
      'memory off -> 3 MiB',
      'eventloop off -> 300 ms',
    ]);
    expect(applyFaultUpdate(state, { memoryMb: 2 })).toEqual(['memory 3 MiB -> 2 MiB']);
    expect(state.isActive('memory')).toBe(true);
    expect(state.isActive('eventloop')).toBe(true);
    expect(resetFaults(state)).toEqual([
      'latency 100-500 ms -> off',
      'errors 0.25 -> 0',
      'unreachable product -> none',
      'readiness failing -> ok',
      'memory 2 MiB -> off',
      'eventloop 300 ms -> off',
    ]);
    expect(state.isActive('memory')).toBe(false);
    expect(state.snapshot()).toEqual({
      latency: null,
      errorRatio: 0,
      unreachable: [],
      readinessFailing: false,
      memoryMb: 0,
      eventLoopBlockMs: 0,
    });
    expect(resetFaults(state)).toEqual([]);
  });
});

describe(FaultState.name, () => {
  it('holds the memory of the memory fault as resident buffers, and frees it at once when switched off', () => {
    // With the services' fixed mmap threshold (scripts/service-flags.mjs; vitest.config.ts gives it to the
    // workers when they are spawned, glibc reads it at start): with glibc's dynamic threshold, once a
    // large block was freed (oauth's scrypt: 16 MiB per hash) 1 MiB blocks come from the heap, and stay
    // there when anything was allocated after them (CI once read 0 MiB given back).
    if (process.platform === 'linux')
      expect(readFileSync('/proc/self/environ', 'utf8').split('\0')).toContain(
        `MALLOC_MMAP_THRESHOLD_=${SERVICE_ENV.MALLOC_MMAP_THRESHOLD_}`,
      );
    const state = new FaultState();
    const resident = () => process.memoryUsage().rss;
    const before = resident();
    state.memoryMb = 64;
    expect(state.memoryMb).toBe(64);
    // Touched pages: resident at once (less a little the process may have given back meanwhile).
    expect(resident() - before).toBeGreaterThanOrEqual(56 * 1024 * 1024);
    state.memoryMb = 16;
    expect(state.memoryMb).toBe(16);
    const held = resident();
    state.reset();
    expect(state.memoryMb).toBe(0);
    // Freed now, not at the next garbage collection.
    expect(held - resident()).toBeGreaterThanOrEqual(14 * 1024 * 1024);
    expect(state.snapshot().memoryMb).toBe(0);
  });
});
