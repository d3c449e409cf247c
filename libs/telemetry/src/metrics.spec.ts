import { register } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { combinations, Metrics } from './metrics.js';

const valuesOf = async (name: string) =>
  Object.fromEntries(
    ((await register.getSingleMetric(name)?.get())?.values ?? []).map((v) => [
      Object.values(v.labels).join(),
      v.value,
    ]),
  );

describe(Metrics.name, () => {
  it('makes a counter on the default registry with every known label value at 0', async () => {
    const issued = new Metrics().counter({
      name: 'spec_tokens_issued_total',
      help: 'h',
      labelNames: ['grant'],
      known: { grant: ['password', 'client_credentials'] },
    });
    issued.inc({ grant: 'password' });
    expect(await valuesOf('spec_tokens_issued_total')).toEqual({ password: 1, client_credentials: 0 });
  });

  it('gives every application of the process the same metric for a name, new known values added at 0', async () => {
    const spec = { name: 'spec_retries_total', help: 'h', labelNames: ['peer', 'reason'] as const };
    const first = new Metrics().counter({ ...spec, known: { peer: ['product'], reason: ['timeout'] } });
    first.inc({ peer: 'product', reason: 'timeout' }, 3);
    const second = new Metrics().counter({ ...spec, known: { peer: ['customer'], reason: ['timeout'] } });
    expect(second).toBe(first);
    expect(await valuesOf('spec_retries_total')).toEqual({ 'product,timeout': 3, 'customer,timeout': 0 });
  });

  it('reads a gauge at scrape time', async () => {
    let depth = 4;
    new Metrics().gauge({ name: 'spec_queue_depth', help: 'h', collect: (gauge) => gauge.set(depth) });
    expect(await valuesOf('spec_queue_depth')).toEqual({ '': 4 });
    depth = 1;
    expect(await valuesOf('spec_queue_depth')).toEqual({ '': 1 });
  });
});

describe(combinations.name, () => {
  it('crosses the values of every label, and has none when a label has none', () => {
    expect(combinations({ a: ['1', '2'], b: ['x'] })).toEqual([
      { a: '1', b: 'x' },
      { a: '2', b: 'x' },
    ]);
    expect(combinations({ a: ['1'], b: [] })).toEqual([]);
    expect(combinations(undefined)).toEqual([]);
  });
});
