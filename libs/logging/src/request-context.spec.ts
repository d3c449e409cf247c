import { setTimeout as sleep } from 'node:timers/promises';
import { context, ROOT_CONTEXT } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentRequestContext, runWithRequestContext } from './request-context.js';

/** What a request's code sees after an await, a timer and an immediate. */
async function seenAcrossTurns(): Promise<(string | undefined)[]> {
  const seen = [currentRequestContext()?.requestId];
  await sleep(1);
  seen.push(currentRequestContext()?.requestId);
  await new Promise<void>((resolve) =>
    setTimeout(() => {
      seen.push(currentRequestContext()?.requestId);
      resolve();
    }, 1),
  );
  await new Promise<void>((resolve) =>
    setImmediate(() => {
      seen.push(currentRequestContext()?.requestId);
      resolve();
    }),
  );
  return seen;
}

describe('request context with an OpenTelemetry context manager', () => {
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  });

  afterAll(() => {
    context.disable();
  });

  it('follows the request across awaits, timers and immediates, and ends with it', async () => {
    const seen = await runWithRequestContext({ requestId: 'req-1' }, seenAcrossTurns);
    expect(seen).toEqual(['req-1', 'req-1', 'req-1', 'req-1']);
    expect(currentRequestContext()).toBeUndefined();
  });

  it('keeps concurrent requests apart, and an inner context only for its own work', async () => {
    const [a, b] = await Promise.all([
      runWithRequestContext({ requestId: 'req-a' }, seenAcrossTurns),
      runWithRequestContext({ requestId: 'req-b' }, async () => {
        const inner = await runWithRequestContext({ requestId: 'req-inner' }, seenAcrossTurns);
        return [...inner, currentRequestContext()?.requestId];
      }),
    ]);
    expect(a).toEqual(['req-a', 'req-a', 'req-a', 'req-a']);
    expect(b).toEqual(['req-inner', 'req-inner', 'req-inner', 'req-inner', 'req-b']);
  });

  it('rides in the OpenTelemetry context: a context captured in the request carries it where it is entered again', () => {
    const captured = runWithRequestContext({ requestId: 'req-2', traceId: 't', spanId: 's' }, () =>
      context.active(),
    );
    expect(currentRequestContext()).toBeUndefined();
    expect(context.with(captured, () => currentRequestContext())).toEqual({
      requestId: 'req-2',
      traceId: 't',
      spanId: 's',
    });
    expect(context.with(ROOT_CONTEXT, () => currentRequestContext())).toBeUndefined();
  });
});

describe('request context without an OpenTelemetry context manager (OTEL_SDK_DISABLED)', () => {
  beforeAll(() => {
    context.disable();
  });

  it('still follows the request across awaits, timers and immediates, and ends with it', async () => {
    const seen = await runWithRequestContext({ requestId: 'req-3' }, seenAcrossTurns);
    expect(seen).toEqual(['req-3', 'req-3', 'req-3', 'req-3']);
    expect(currentRequestContext()).toBeUndefined();
  });

  it('keeps concurrent requests apart', async () => {
    const [a, b] = await Promise.all([
      runWithRequestContext({ requestId: 'req-a' }, seenAcrossTurns),
      runWithRequestContext({ requestId: 'req-b' }, seenAcrossTurns),
    ]);
    expect(a).toEqual(['req-a', 'req-a', 'req-a', 'req-a']);
    expect(b).toEqual(['req-b', 'req-b', 'req-b', 'req-b']);
  });
});
