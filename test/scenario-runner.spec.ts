import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, repoRoot } from '#lab/testing';
import {
  alertRules,
  chaosCommands,
  concurrentGroups,
  culpritCheck,
  evaluationIntervalOf,
  fillPlaceholders,
  formatDuration,
  loadScenarios,
  parseDuration,
  problemsOf,
  renderScenarioDocs,
  longestRange,
  scaleRanges,
  scheduleOrder,
  startable,
  type Scenario,
  timeScale,
} from '../scripts/scenario-lib.mjs';

// The parts of `npm run scenario` (scripts/scenario.mjs) that need no running lab: the definitions of
// scenarios/ and their validation, the time scale, the culprit check, the concurrency groups and the
// generated docs/scenarios.md. test/infra/scenarios.e2e-spec.ts runs every scenario for real.

const SCENARIOS_DIR = join(repoRoot, 'scenarios');
const RULES_DIR = join(repoRoot, 'infra/prometheus/rules');

/** A valid definition to break one field at a time. */
function definition(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'slow-thing',
    title: 'Slow thing',
    summary: 'It gets slow.',
    touches: ['product', 'gateway', 'order'],
    traffic: [{ name: 'browse', method: 'GET', path: '/api/products?limit=5', perSecond: 3 }],
    inject: { fault: { service: 'product', body: { latency: { minMs: 2000, maxMs: 2000 } } } },
    alert: { name: 'SlowResponses', labels: { service: 'product' }, within: '4m' },
    runbook: [
      {
        expr: 'histogram_quantile(0.95, sum by (route, le) (rate(x_bucket{service="<service>"}[5m])))',
        culprit: { route: '/products' },
      },
    ],
    recovery: { within: '6m' },
    docs: { sees: 'slow pages', find: 'Jaeger' },
    ...overrides,
  };
}

const series = (metric: Record<string, string>, value: string) => ({ metric, value: [0, value] });

describe('scenario definitions (scenarios/*.mjs)', () => {
  it('loads and validates every definition, one per file named after it', async () => {
    const scenarios = await loadScenarios(SCENARIOS_DIR);
    expect(scenarios.length).toBeGreaterThanOrEqual(2);
    expect(scenarios.map((s: { name: string }) => s.name)).toContain('slow-product');
  });

  it('names only alerts that exist in infra/prometheus/rules', async () => {
    const names = new Set(alertRules(RULES_DIR).map((rule: { name: string }) => rule.name));
    for (const scenario of await loadScenarios(SCENARIOS_DIR)) {
      const refs = [...(scenario.alert ? [scenario.alert] : []), ...(scenario.alsoFires ?? [])];
      for (const ref of refs) expect(names, `${scenario.name}: ${ref.name}`).toContain(ref.name);
    }
  });

  it('keeps docs/scenarios.md as the definitions generate it (npm run scenario -- --docs)', async () => {
    const current = readFileSync(join(repoRoot, 'docs/scenarios.md'), 'utf8');
    const generated = renderScenarioDocs(current, await loadScenarios(SCENARIOS_DIR), alertRules(RULES_DIR));
    expect(generated === current, 'docs/scenarios.md is out of date: run npm run scenario -- --docs').toBe(
      true,
    );
  });
});

describe('scenario validation', () => {
  it('accepts a complete definition', () => {
    expect(problemsOf(definition(), 'slow-thing')).toEqual([]);
  });

  it.each([
    [{ name: 'Slow_Thing' }, 'name: "Slow_Thing" is not kebab-case'],
    [{ name: 'other-name' }, 'name: "other-name" differs from the file name "slow-thing"'],
    [{ touches: [] }, 'touches: must be a non-empty array'],
    [{ touches: ['catalogue'] }, 'touches: "catalogue" is not one of'],
    [{ touches: ['order'] }, 'touches: must include "product", which inject changes'],
    // A fault moves its callers' metrics too: a scenario beside it reading theirs would be misled.
    [
      { touches: ['product', 'gateway'] },
      'touches: must include "order" too: it calls product, which inject changes',
    ],
    [
      { touches: ['order'], inject: { pause: 'order' } },
      'touches: must include "gateway" too: it calls order, which inject changes',
    ],
    [
      {
        touches: ['customer', 'gateway', 'order'],
        inject: { fault: { service: 'customer', body: { errorRatio: 0.5 } } },
      },
      'touches: must include "oauth" too: it calls customer, which inject changes',
    ],
    [{ colour: 'red' }, 'colour: unknown field'],
    [
      { alert: { name: 'SlowResponses', labels: {}, within: '4 minutes' } },
      'alert.within: "4 minutes" is not a duration',
    ],
    [{ recovery: {} }, 'recovery.within: undefined is not a duration'],
    [{ runbook: [] }, 'runbook: must be a non-empty array'],
    [{ runbook: [{ expr: 'up', culprit: {} }] }, 'runbook[0].culprit: must be labels'],
    [
      { runbook: [{ expr: 'up{job="<job>"}', culprit: { job: 'x' } }] },
      'runbook[0].expr: the query has the placeholder <job> and no value for it (vars.job)',
    ],
    [{ runbook: [{ expr: 'up', culprit: { job: 'x' }, match: 'most' }] }, 'runbook[0].match: must be one of'],
    [{ traffic: [{ name: 'x', method: 'GET', path: '/', perSecond: 500 }] }, 'traffic[0].perSecond: must be'],
    [
      { traffic: [{ name: 'x', method: 'GET', path: 'api', perSecond: 1 }] },
      'traffic[0].path: must start with /',
    ],
    [{ inject: { pause: 'order', fault: { service: 'order', body: {} } } }, 'inject: needs exactly one of'],
    [
      { inject: { fault: { service: 'product', body: { slowness: 2 } } } },
      'inject.fault.body.slowness: unknown',
    ],
    [{ inject: { run: async () => undefined } }, 'inject.undo: inject.run needs its undo'],
    [{ undo: 'inverse' }, 'undo: is derived from inject'],
    [{ docs: { sees: 'x' } }, 'docs.find: must be a non-empty string'],
    [{ alert: null }, 'hold: undefined is not a duration'],
    [{ steadyState: { queries: [{ expr: 'up', below: 1, above: 0 }] } }, 'needs exactly one number'],
    [{ symptom: { status: 'bad' } }, "symptom.status: must be '5xx' or a status code"],
  ])('refuses %j naming the field', (overrides, message) => {
    expect(problemsOf(definition(overrides), 'slow-thing').join('\n')).toContain(message);
  });

  it('accepts a scenario where no alert is the check, with its hold and quiet list', () => {
    const quietOnly = definition({
      alert: null,
      hold: '2m',
      runbook: [],
      recovery: undefined,
      steadyState: { quiet: [{ name: 'HighErrorRatio', labels: {} }] },
      inject: { run: async () => undefined, undo: async () => undefined },
      docs: { inject: 'rotate the key', sees: 'nothing', find: 'Jaeger' },
    });
    delete quietOnly.recovery;
    expect(problemsOf(quietOnly, 'slow-thing')).toEqual([]);
  });

  it('names the file of every broken definition when loading a directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scenarios-'));
    try {
      writeFileSync(join(dir, 'good.mjs'), `export default ${JSON.stringify(definition({ name: 'good' }))};`);
      writeFileSync(
        join(dir, 'bad.mjs'),
        `export default ${JSON.stringify(definition({ name: 'bad', recovery: {} }))};`,
      );
      writeFileSync(join(dir, 'broken.mjs'), 'export default {');
      await expect(loadScenarios(dir)).rejects.toThrow(
        new RegExp(`${dir}/bad.mjs: recovery.within[\\s\\S]*${dir}/broken.mjs: `),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('time scale', () => {
  it('is 15 s over the evaluation interval: 1 for Compose, 15 for PROMETHEUS_INTERVAL=1s', () => {
    expect(timeScale('15s')).toBe(1);
    expect(timeScale('1s')).toBe(15);
    expect(timeScale('500ms')).toBe(30);
    expect(() => timeScale('soon')).toThrow('not a duration');
  });

  it("reads the evaluation interval from Prometheus' configuration (default 1m)", () => {
    const yaml =
      'global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n  external_labels:\n    lab: x\nrule_files:\n- a';
    expect(evaluationIntervalOf(yaml)).toBe('1s');
    expect(evaluationIntervalOf('global:\n  scrape_interval: 15s\nscrape_configs: []')).toBe('1m');
  });

  it('divides every range selector and subquery of a query by r', () => {
    expect(scaleRanges('rate(x[5m]) / rate(y[1m30s])', 15)).toBe('rate(x[20s]) / rate(y[6s])');
    expect(scaleRanges('max_over_time(rate(x[5m])[10m:1m])', 15)).toBe('max_over_time(rate(x[20s])[40s:4s])');
    expect(scaleRanges('rate(x[5m])', 1)).toBe('rate(x[5m])');
    expect(scaleRanges('rate(x[1m])', 120)).toBe('rate(x[500ms])');
  });

  it("finds a query's longest range (how long an earlier scenario's answers stay in its window)", () => {
    expect(longestRange('rate(x[5m]) / rate(y[1m30s])')).toBe(300);
    expect(longestRange('max_over_time(rate(x[1m])[10m:1m])')).toBe(600);
    expect(longestRange('up == 0')).toBe(0);
  });

  it('parses and formats Prometheus durations', () => {
    expect(parseDuration('1m30s')).toBe(90);
    expect(parseDuration('4 m')).toBeUndefined();
    expect(formatDuration(90)).toBe('1m30s');
    expect(formatDuration(3600 + 1)).toBe('1h1s');
  });
});

describe('culprit check of a runbook query', () => {
  const answer = [
    series({ service: 'gateway' }, '2.3'),
    series({ service: 'product' }, '2.4'),
    series({ service: 'order' }, 'NaN'),
  ];

  it('holds when the series with the highest value carries the labels (NaN counts as no value)', () => {
    expect(culpritCheck(answer, { service: 'product' }).ok).toBe(true);
    const wrong = culpritCheck(answer, { service: 'gateway' });
    expect(wrong).toEqual({
      ok: false,
      reason: 'the top series is {service="product"} (2.4), not {service="gateway"}',
    });
  });

  it('with match every, fails on any other series; with any, holds on one', () => {
    expect(culpritCheck(answer, { service: 'product' }, 'every').ok).toBe(false);
    expect(
      culpritCheck([series({ status_code: '500', route: '/a' }, '1')], { status_code: '500' }, 'every').ok,
    ).toBe(true);
    expect(culpritCheck(answer, { service: 'order' }, 'any').ok).toBe(true);
    expect(culpritCheck(answer, { service: 'oauth' }, 'any').ok).toBe(false);
  });

  it('fails on an empty answer', () => {
    expect(culpritCheck([], { service: 'product' })).toMatchObject({
      ok: false,
      reason: expect.stringContaining('no series'),
    });
  });

  it('fills placeholders from the variables and refuses one without a value', () => {
    expect(fillPlaceholders('up{job="<service>"} < 1', { service: 'order' })).toBe('up{job="order"} < 1');
    expect(() => fillPlaceholders('up{job="<job>"}', {})).toThrow('<job>');
  });
});

describe('chaos commands of a fault', () => {
  it('says each fault of the switch as npm run chaos does, and off', () => {
    expect(chaosCommands('customer', { memoryMb: 200, eventLoopBlockMs: 0, errorRatio: 0.5 })).toEqual([
      'npm run chaos -- customer errors 0.5',
      'npm run chaos -- customer memory 200',
      'npm run chaos -- customer eventloop off',
    ]);
    expect(chaosCommands('order', { unreachable: ['product'], latency: { minMs: 100, maxMs: 500 } })).toEqual(
      ['npm run chaos -- order latency 100-500', 'npm run chaos -- order unreachable product'],
    );
  });
});

describe('concurrency groups', () => {
  it('starts a pending scenario only when no running one touches its services; the webhook one alone', () => {
    const s = (name: string, touches: string[]) => ({ name, touches });
    const names = (list: { name: string }[]) => list.map((x) => x.name);
    const [a, b, c, f] = [
      s('a', ['product']),
      s('b', ['customer', 'order']),
      s('c', ['order']),
      s('f', ['alert-webhook']),
    ];
    expect(names(startable([a, b, c, f], []))).toEqual(['a', 'b']);
    expect(names(startable([c, f], [a]))).toEqual(['c']);
    expect(names(startable([f], [a]))).toEqual([]);
    expect(names(startable([f, a], []))).toEqual(['f']);
    const alone = { name: 'z', touches: ['product'], alone: true };
    expect(names(startable([alone, b], [a]))).toEqual(['b']);
    expect(names(startable([alone, b], []))).toEqual(['z']);
  });

  it('starts those that run alone first, then those on the most contended services', () => {
    const s = (name: string, touches: string[], alone = false) => ({ name, touches, alone });
    const order = scheduleOrder([
      s('a', ['product']),
      s('b', ['order']),
      s('c', ['order', 'gateway']),
      s('d', ['customer'], true),
      s('e', ['order']),
    ]);
    expect(order.map((x) => x.name)).toEqual(['d', 'b', 'c', 'e', 'a']);
  });

  it('puts scenarios together only when they touch different services, in order', () => {
    const s = (name: string, touches: string[]) => ({ name, touches });
    const groups = concurrentGroups([
      s('a', ['product']),
      s('b', ['customer']),
      s('c', ['product', 'order']),
      s('d', ['order']),
      s('e', ['rabbitmq']),
      s('f', ['alert-webhook']),
      s('g', ['oauth']),
    ]);
    expect(groups.map((group: { name: string }[]) => group.map((x) => x.name))).toEqual([
      ['a', 'b', 'd', 'e', 'g'],
      ['c'],
      ['f'],
    ]);
  });
});

describe('docs/scenarios.md generation', () => {
  const alerts = [{ name: 'SlowResponses', severity: 'warning', file: 'services.yml' }];
  const scenario = { ...definition(), alsoFires: [] } as unknown as Scenario;

  it('rewrites the blocks and the alerts table, and adds a block for a new definition', () => {
    const markdown =
      '# S\n\n<!-- alerts -->\nold\n<!-- /alerts -->\n\n<!-- scenarios -->\n\n<!-- /scenarios -->\n';
    const out = renderScenarioDocs(markdown, [scenario], alerts);
    expect(out).toContain('<!-- scenario:slow-thing -->\n## Slow thing\n');
    expect(out).toContain('`npm run chaos -- product latency 2000`');
    expect(out).toContain('**Undo.** `npm run chaos -- product latency off`');
    expect(out).toContain(
      'histogram_quantile(0.95, sum by (route, le) (rate(x_bucket{service="product"}[5m])))',
    );
    expect(out).toContain(
      '| [`SlowResponses`](runbooks.md#slow-responses) | warning | [slow-thing](#slow-thing) | - |',
    );
    expect(renderScenarioDocs(out, [scenario], alerts)).toBe(out);
  });

  it('refuses a block whose definition is gone', () => {
    const markdown = '<!-- alerts -->\n<!-- /alerts -->\n<!-- scenario:gone -->\nx\n<!-- /scenario -->\n';
    expect(() => renderScenarioDocs(markdown, [], alerts)).toThrow('"gone", which has no scenarios/gone.mjs');
  });
});

describe('npm run scenario, without a lab', () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, ['scripts/scenario.mjs', ...args], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, ...env },
    });

  it('lists the scenarios with their alert and requirements, and explains itself with --help', () => {
    const list = run(['--list']);
    expect(list.status).toBe(0);
    expect(list.stdout).toMatch(/^slow-product\s+Slow product service\s+SlowResponses\{service="product"\}/m);
    const help = run(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('usage: npm run scenario -- <name> [--keep]');
  });

  it('says which URL it cannot reach when Prometheus is not there, with exit code 1', async () => {
    const port = await freePort();
    const result = run(['slow-product'], { PROMETHEUS_URL: `http://127.0.0.1:${port}` });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      `scenario: cannot reach Prometheus at http://127.0.0.1:${port} (ECONNREFUSED)`,
    );
    // --all says it once, before starting a runner per scenario that would each say it again.
    const all = run(['--all'], { PROMETHEUS_URL: `http://127.0.0.1:${port}` });
    expect(all.status).toBe(1);
    expect(`${all.stdout}${all.stderr}`.trim().split('\n')).toEqual([
      expect.stringContaining(`scenario: cannot reach Prometheus at http://127.0.0.1:${port} (ECONNREFUSED)`),
    ]);
  });

  it('refuses an unknown scenario with exit code 2, naming the ones there are', () => {
    const result = run(['no-such-scenario']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/unknown scenario "no-such-scenario": choose one of .*slow-product/);
  });
});
