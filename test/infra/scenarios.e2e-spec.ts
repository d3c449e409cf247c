import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, repoRoot, type RunningLab, startLab } from '#lab/testing';
import { loadScenarios, type Scenario, scheduleOrder, startable } from '../../scripts/scenario-lib.mjs';

// Every scenario of scenarios/ run by the runner (`node scripts/scenario.mjs <name>`, a child each)
// against the lab as `npm start` runs it with its local monitoring (Prometheus, Alertmanager and the
// alert-webhook, PROMETHEUS_INTERVAL=1s: the rules' times ÷ 15) and its own RabbitMQ broker. Scenarios
// that touch different services run at the same time. Each must exit 0 with every step printed ✔; the
// ones that cannot run here are exactly those listed below, each with the reason the runner gives.
// Then the negative proofs: a scenario whose alert cannot fire, and one whose runbook query names the
// wrong culprit, exit 1 (and still undo their fault); Ctrl-C undoes a fault. About 7 minutes (at most 10).

/** Scenarios that cannot run against `npm start`'s lab, and what the runner must say they need. */
const SKIPPED_HERE: Record<string, string> = {
  // cAdvisor, node-exporter and the blackbox exporter are the Compose stack's (promtool tests prove
  // these scenarios' runbook queries instead: infra/prometheus/tests).
  'container-restarting': 'needs compose, cadvisor',
  'host-cpu-high': 'needs compose, node-exporter, cadvisor',
  'host-disk-space-low': 'needs compose, node-exporter',
  'log-records-dropped': 'needs compose',
  'probe-failing': 'needs blackbox-http',
};
const INTERVAL = '1s';
const RUN_BUDGET_MS = 10 * 60_000;
const STEPS_WITH_ALERT = [
  'steady state',
  'inject',
  'alert',
  'notified',
  'runbook',
  'trace',
  'undo',
  'recovery',
];
const STEPS_WITHOUT_ALERT = ['steady state', 'inject', 'hold', 'trace', 'undo'];

interface Run {
  name: string;
  code: number | null;
  output: string;
  startedAt: number;
  ms: number;
}

let lab: RunningLab | undefined;
let env: Record<string, string> = {};
let work = '';
const started = Date.now();
const timings: string[] = [];
const mark = (what: string) => timings.push(`${what} ${Math.round((Date.now() - started) / 1000)} s`);

/** `node scripts/scenario.mjs <args>` against the lab: its pid, its output so far, and its end. */
function startRunner(args: string[], extraEnv: Record<string, string> = {}, timeoutMs = 180_000) {
  const startedAt = Date.now();
  const child = spawn(process.execPath, ['scripts/scenario.mjs', ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // Bounded: a runner past its time is interrupted (it undoes its fault) and reported as such.
  const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs);
  const result = new Promise<Run>((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ name: args[0], code, output, startedAt, ms: Date.now() - startedAt });
    }),
  );
  return { pid: child.pid ?? 0, output: () => output, result };
}

const runner = (args: string[], extraEnv: Record<string, string> = {}) => startRunner(args, extraEnv).result;

/** Runs the scenarios as the runner's --all does: each as soon as nothing running touches its services. */
async function runConcurrently(scenarios: Scenario[]): Promise<Map<string, Run>> {
  const results = new Map<string, Run>();
  const pending = scheduleOrder(scenarios);
  const running = new Set<Scenario>();
  await new Promise<void>((done) => {
    const next = () => {
      if (pending.length === 0 && running.size === 0) return done();
      for (const scenario of startable(pending, [...running])) {
        pending.splice(pending.indexOf(scenario), 1);
        running.add(scenario);
        // At most 5 minutes each (the slowest, rate-limit-storm, needs about 1.5 on an idle machine).
        void startRunner([scenario.name], {}, 300_000).result.then((run) => {
          running.delete(scenario);
          results.set(scenario.name, run);
          // Said at once, so a run past its budget still shows what went wrong.
          console.log(
            `[scenarios e2e] ${scenario.name}: exit ${run.code} after ${Math.round(run.ms / 1000)} s${
              run.code === 0 || run.code === 3 ? '' : `\n${run.output}`
            }`,
          );
          next();
        });
      }
    };
    next();
  });
  return results;
}

const steps = (output: string) =>
  [...output.matchAll(/^([✔✘]) ([a-z ]+):/gm)].map(([, mark, step]) => `${mark} ${step}`);

async function faultsOf(service: string): Promise<Record<string, unknown>> {
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: 'admin-cli',
    client_secret: 'admin-cli-secret',
  });
  const token = (await (
    await fetch(`${env.GATEWAY_URL}/api/oauth/token`, { method: 'POST', body: form })
  ).json()) as {
    access_token: string;
  };
  const response = await fetch(`${env.GATEWAY_URL}/api/admin/faults/${service}`, {
    headers: { authorization: `Bearer ${token.access_token}` },
  });
  return ((await response.json()) as { faults: Record<string, unknown> }).faults;
}

/** A definition for the negative proofs, in a directory of their own (SCENARIOS_DIR). */
function writeDefinition(dir: string, definition: Record<string, unknown>) {
  writeFileSync(
    join(dir, `${String(definition.name)}.mjs`),
    `export default ${JSON.stringify(definition, null, 2)};\n`,
  );
}

const base = {
  summary: 'A scenario of the e2e spec.',
  traffic: [
    { name: 'browse', method: 'GET', path: '/api/products?limit=5', perSecond: 3 },
    { name: 'profile', method: 'GET', path: '/api/customers/me', perSecond: 3, auth: 'user' },
  ],
  recovery: { within: '6m' },
  docs: { sees: 'x', find: 'x' },
};

describe('every scenario, run by npm run scenario against npm start with local monitoring', () => {
  beforeAll(async () => {
    const build = spawnSync(process.execPath, ['scripts/build.mjs'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (build.status !== 0) throw new Error(`build failed: ${build.stderr}`);
    work = mkdtempSync(join(tmpdir(), 'scenarios-e2e-'));
    // A broker of npm start's own (AMQP_URL unset), with its data here; the rate limits of Compose.
    const start = (attempt: number) =>
      startLab(
        {
          AMQP_URL: '',
          BROKER_DATA_DIR: join(work, `rabbitmq-${attempt}`),
          RATE_LIMIT_REQUESTS: '600',
        },
        undefined,
        { monitoring: { interval: INTERVAL } },
      );
    // Once more if the first start runs out of startLab's time on a busy machine (it cleans up after
    // itself; the second broker gets a data directory of its own).
    lab = await start(1).catch((error: unknown) => {
      console.log(`[scenarios e2e] the lab did not start, once more: ${String(error).slice(0, 200)}`);
      return start(2);
    });
    const monitoring = lab.monitoring;
    if (!monitoring) throw new Error('the lab has no monitoring');
    env = {
      GATEWAY_URL: lab.urls.gateway,
      PROMETHEUS_URL: monitoring.prometheus,
      ALERTMANAGER_URL: monitoring.alertmanager,
      ALERT_WEBHOOK_URL: monitoring.alertWebhook,
      JAEGER_URL: 'http://jaeger.invalid:16686',
      // Set, so that a developer's .env.local (read by the runner after the environment) cannot point
      // poison-event at another broker or the runner at other definitions.
      AMQP_URL: '',
      SCENARIOS_DIR: join(repoRoot, 'scenarios'),
    };
    // The broker's scenarios would skip ("needs rabbitmq") without the lab's broker, scraped: that is a
    // failure here, said with the broker's own lines, not four skips.
    const output = lab.process.output();
    const broker = /^\S*\s+rabbitmq\s+(amqp:.*)$/m.exec(output)?.[1] ?? 'no broker line';
    if (!broker.includes('started here'))
      throw new Error(
        `the lab's broker did not start: ${broker}\n${output
          .split('\n')
          .filter((line) => line.includes('rabbitmq'))
          .slice(-30)
          .join('\n')}`,
      );
    await eventually(
      'the broker scraped by Prometheus (jobs rabbitmq, rabbitmq-queues)',
      60_000,
      async () => {
        const response = await fetch(`${monitoring.prometheus}/api/v1/targets?state=active`);
        const { data } = (await response.json()) as {
          data: { activeTargets: { labels: { job: string }; health: string; lastError: string }[] };
        };
        const broker = data.activeTargets.filter((t) => t.labels.job.startsWith('rabbitmq'));
        const down = broker.filter((t) => t.health !== 'up');
        if (broker.length === 2 && down.length === 0) return true;
        throw new Error(
          `targets: ${broker.map((t) => `${t.labels.job} ${t.health} ${t.lastError}`).join('; ') || 'none'}`,
        );
      },
    );
    mark('lab ready');
  }, 600_000);

  afterAll(async () => {
    await lab?.stop(); // resolves once every process of the lab is gone
    if (work) rmSync(work, { recursive: true, force: true });
    console.log(`[scenarios e2e] ${timings.join(', ')}`);
  }, 60_000);

  it(
    'runs every scenario to exit code 0 with every step held, concurrently where they touch different services',
    async () => {
      const scenarios = await loadScenarios(join(repoRoot, 'scenarios'));
      const results = await runConcurrently(scenarios);
      mark('scenarios run');
      const report = scenarios.map((s) => {
        const run = results.get(s.name);
        return `${s.name}: exit ${run?.code} in ${Math.round((run?.ms ?? 0) / 1000)} s`;
      });
      console.log(`[scenarios e2e] ${report.join('; ')}`);
      const failed = [...results.values()].filter(
        (run) => run.code !== 0 && !(run.name in SKIPPED_HERE && run.code === 3),
      );
      // What the lab itself said when a scenario failed: a service that exited or logged an error (the
      // launcher keeps the others running), so a failure here can be read without running it again.
      if (failed.length > 0)
        console.log(
          `[scenarios e2e] the lab's exits and errors:\n${lab?.process
            .output()
            .split('\n')
            .filter((line) => /exited \(|"level":"(error|fatal)"|\b(ERROR|FATAL)\b/.test(line))
            .slice(-60)
            .join('\n')}`,
        );
      expect(failed.map((run) => `${run.name} (exit ${run.code}):\n${run.output}`)).toEqual([]);

      const skipped = Object.fromEntries(
        [...results.values()]
          .filter((run) => run.code === 3)
          .map((run) => [run.name, /skipped: (.+)/.exec(run.output)?.[1] ?? '']),
      );
      expect(skipped).toEqual(SKIPPED_HERE);
      for (const scenario of scenarios) {
        if (scenario.name in SKIPPED_HERE) continue;
        const run = results.get(scenario.name);
        const expected = (scenario.alert ? STEPS_WITH_ALERT : STEPS_WITHOUT_ALERT).map((step) => `✔ ${step}`);
        const printed = [...new Set(steps(run?.output ?? ''))];
        expect(printed, scenario.name).toEqual(expect.arrayContaining(expected));
        expect(
          printed.filter((step) => step.startsWith('✘')),
          scenario.name,
        ).toEqual([]);
        expect(run?.output, scenario.name).toContain(`scenario ${scenario.name}: passed`);
        // The trace id of one of its failing requests, unless the traffic sees nothing of the fault.
        if (scenario.alert && scenario.symptom !== false)
          expect(run?.output, scenario.name).toMatch(/✔ trace: .*trace [0-9a-f]{32}/);
      }
    },
    RUN_BUDGET_MS,
  );

  it('fails a scenario whose alert does not fire, and one whose runbook query names the wrong culprit, undoing both faults', async () => {
    const dir = join(work, 'negative');
    mkdirSync(dir);
    writeDefinition(dir, {
      ...base,
      name: 'never-fires',
      title: 'A fault too small to fire its alert',
      touches: ['customer', 'gateway', 'order', 'oauth'],
      inject: { fault: { service: 'customer', body: { latency: { minMs: 1, maxMs: 1 } } } },
      alert: { name: 'SlowResponses', labels: { service: 'customer' }, within: '1m' },
      runbook: [{ expr: 'up', culprit: { job: 'customer' }, match: 'any' }],
    });
    writeDefinition(dir, {
      ...base,
      name: 'wrong-culprit',
      title: 'A runbook query pointed at the wrong service',
      touches: ['product', 'gateway', 'order'],
      inject: { fault: { service: 'product', body: { latency: { minMs: 2000, maxMs: 2000 } } } },
      alert: { name: 'SlowResponses', labels: { service: 'product' }, within: '4m' },
      runbook: [
        {
          expr: 'histogram_quantile(0.95, sum by (service, le) (rate(http_server_request_duration_seconds_bucket{service=~"product|customer"}[5m])))',
          culprit: { service: 'customer' },
        },
      ],
    });
    const [neverFires, wrongCulprit] = await Promise.all([
      runner(['never-fires'], { SCENARIOS_DIR: dir }),
      runner(['wrong-culprit'], { SCENARIOS_DIR: dir }),
    ]);
    mark('negative proofs run');
    expect(neverFires.code, neverFires.output).toBe(1);
    expect(steps(neverFires.output)).toEqual(['✔ steady state', '✔ inject', '✘ alert', '✔ undo']);
    expect(neverFires.output).toMatch(/✘ alert: SlowResponses\{service="customer"\} did not fire within/);
    expect(neverFires.output).toContain('scenario never-fires: FAILED at alert');

    expect(wrongCulprit.code, wrongCulprit.output).toBe(1);
    expect(steps(wrongCulprit.output)).toEqual([
      '✔ steady state',
      '✔ inject',
      '✔ alert',
      '✔ notified',
      '✘ runbook',
      '✔ undo',
    ]);
    expect(wrongCulprit.output).toMatch(
      /✘ runbook: query 1 does not name the culprit: the top series is \{service="product"\} \([\d.]+\), not \{service="customer"\}/,
    );
    expect(await faultsOf('customer')).toMatchObject({ latency: null });
    expect(await faultsOf('product')).toMatchObject({ latency: null });
  }, 150_000);

  it('undoes the fault when interrupted with Ctrl-C after the inject, exiting 130', async () => {
    const dir = join(work, 'interrupted');
    mkdirSync(dir);
    writeDefinition(dir, {
      ...base,
      name: 'interrupted',
      title: 'Interrupted',
      touches: ['order', 'gateway'],
      inject: { fault: { service: 'order', body: { errorRatio: 0.2 } } },
      alert: { name: 'HighErrorRatio', labels: { service: 'order' }, within: '4m' },
      runbook: [{ expr: 'up', culprit: { job: 'order' }, match: 'any' }],
    });
    const child = startRunner(['interrupted'], { SCENARIOS_DIR: dir });
    const deadline = Date.now() + 60_000;
    while (!child.output().includes('✔ inject') && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 200));
    expect(child.output()).toContain('✔ inject');
    expect(await faultsOf('order')).toMatchObject({ errorRatio: 0.2 });
    process.kill(child.pid, 'SIGINT');
    const run = await child.result;
    expect(run.code, run.output).toBe(130);
    expect(run.output).toContain('Ctrl-C: undoing the fault first… done');
    expect(await faultsOf('order')).toMatchObject({ errorRatio: 0 });
  }, 90_000);
});
