import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  descendantsOf,
  eventually,
  type FluentdReceiver,
  freePort,
  type RabbitMqBroker,
  repoRoot,
  type RunningLab,
  type RunningProcess,
  SERVICES,
  startFluentdReceiver,
  startLab,
  startNode,
  startRabbitMq,
} from '#lab/testing';
import {
  type AlertmanagerConfig,
  alertmanagerArgs,
  monitoringTargets,
  type PrometheusConfig,
  type PrometheusRule,
  type PrometheusRuleFile,
  prometheusArgs,
  writeMonitoringConfig,
} from '../../scripts/monitoring.mjs';

// Prometheus, Alertmanager and their rules, checked with the real tools (Debian's promtool 2.42 and
// amtool 0.25, installed by scripts/infra-tools.mjs), then run for real: Debian's Prometheus scrapes
// the local lab with the jobs and rules of infra/prometheus, Alertmanager routes with
// infra/alertmanager, and an alert travels from a stopped service to the alert-webhook's log.

const PROMETHEUS_DIR = join(repoRoot, 'infra/prometheus');
const RULES_DIR = join(PROMETHEUS_DIR, 'rules');
const TESTS_DIR = join(PROMETHEUS_DIR, 'tests');
const ALERTMANAGER_FILE = join(repoRoot, 'infra/alertmanager/alertmanager.yml');
const DASHBOARDS_DIR = join(repoRoot, 'infra/grafana/dashboards');
const RUNBOOK_BASE = 'https://github.com/observability-lab/observability-lab/blob/main/docs/runbooks.md';
const SEVERITIES = ['critical', 'warning', 'info'];
/** The real run's scrape and evaluation interval: the rules' durations shrink by 15 s / this (scripts/monitoring.mjs). */
const LOCAL_INTERVAL_MS = 1000;

interface RuleTestFile {
  rule_files: string[];
  tests: { name?: string; alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

const readYaml = <T>(file: string) => parse(readFileSync(file, 'utf8')) as T;
const yamlFiles = (dir: string) =>
  readdirSync(dir)
    .filter((name) => name.endsWith('.yml') || name.endsWith('.yaml'))
    .sort()
    .map((name) => join(dir, name));
const ruleFiles = yamlFiles(RULES_DIR);
const testFiles = yamlFiles(TESTS_DIR);
const alertRules = ruleFiles.flatMap((file) =>
  readYaml<PrometheusRuleFile>(file).groups.flatMap((group) => group.rules.filter((rule) => rule.alert)),
) as (PrometheusRule & { alert: string })[];
const alertNames = alertRules.map((rule) => rule.alert);

/** `ServiceDown` → `service-down`: the runbook anchor of an alert. */
const kebab = (name: string) =>
  name
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1-$2')
    .toLowerCase();

/** GitHub's anchor for a Markdown heading. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

function tool(command: string, args: string[]) {
  const which = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  if (which.status !== 0)
    throw new Error(
      `${command} is not installed: run \`node scripts/infra-tools.mjs\` (Debian packages prometheus, prometheus-alertmanager)`,
    );
  const result = spawnSync(command, args, { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('Prometheus and Alertmanager configuration', () => {
  it('passes promtool check config (rule files included) and check rules', () => {
    const config = tool('promtool', ['check', 'config', join(PROMETHEUS_DIR, 'prometheus.yml')]);
    expect(config.output).toContain(`SUCCESS: ${ruleFiles.length} rule files found`);
    expect(config.status, config.output).toBe(0);
    const rules = tool('promtool', ['check', 'rules', ...ruleFiles]);
    expect(rules.status, rules.output).toBe(0);
  });

  it('passes its promtool unit tests', () => {
    const result = tool('promtool', ['test', 'rules', ...testFiles]);
    expect(result.status, result.output).toBe(0);
    expect(result.output).not.toContain('FAILED');
  });

  it('tests every alert both firing and not firing, and every rule file', () => {
    const cases = testFiles.flatMap((file) =>
      readYaml<RuleTestFile>(file).tests.flatMap((test) => test.alert_rule_test ?? []),
    );
    for (const name of alertNames) {
      const mine = cases.filter((c) => c.alertname === name);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${name} fires in a test`,
      ).toBe(true);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${name} stays quiet in a test`,
      ).toBe(true);
    }
    const tested = testFiles.flatMap((file) =>
      readYaml<RuleTestFile>(file).rule_files.map((rules) => join(TESTS_DIR, rules)),
    );
    expect([...new Set(tested)].sort()).toEqual(ruleFiles);
  });

  it('gives every alert a severity, a summary, a description and its runbook_url', () => {
    expect(alertNames.length).toBeGreaterThanOrEqual(13);
    expect(new Set(alertNames).size).toBe(alertNames.length);
    for (const rule of alertRules) {
      expect(SEVERITIES, rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      expect(rule.annotations?.description, rule.alert).toBeTruthy();
      expect(rule.annotations?.runbook_url, rule.alert).toBe(`${RUNBOOK_BASE}#${kebab(rule.alert)}`);
    }
    for (const name of [
      'ServiceDown',
      'HighErrorRatio',
      'SlowResponses',
      'HighMemory',
      'EventLoopLag',
      'CircuitBreakerOpen',
      'TargetMissing',
      'ProbeFailing',
      'ContainerRestarting',
      'HostCpuHigh',
      'HostDiskSpaceLow',
      'LogRecordsDropped',
      'FaultInjectionActive',
    ]) {
      expect(alertNames).toContain(name);
    }
  });

  it('has a docs/runbooks.md section for every runbook_url anchor', () => {
    const markdown = readFileSync(join(repoRoot, 'docs/runbooks.md'), 'utf8');
    const anchors = new Set([
      ...[...markdown.matchAll(/^#{1,6}\s+(.+)$/gm)].map((match) => slug(match[1])),
      ...[...markdown.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)].map((match) => match[1]),
    ]);
    const missing = alertRules
      .map((rule) => rule.annotations?.runbook_url?.split('#')[1] ?? '')
      .filter((anchor) => !anchors.has(anchor));
    expect(missing).toEqual([]);
  });

  it('scrapes every service under its Compose name, the monitoring stack and blackbox probes, and alerts to Alertmanager', () => {
    const config = readYaml<PrometheusConfig>(join(PROMETHEUS_DIR, 'prometheus.yml'));
    const jobs = new Map(config.scrape_configs.map((job) => [job.job_name, job]));
    const ports = { gateway: 3000, oauth: 3001, customer: 3002, product: 3003, order: 3004 };
    for (const service of SERVICES) {
      expect(jobs.get(service)?.static_configs).toEqual([
        { targets: [`${service}:${ports[service]}`], labels: { service } },
      ]);
    }
    for (const job of [
      'prometheus',
      'alertmanager',
      'grafana',
      'node-exporter',
      'cadvisor',
      'blackbox-exporter',
      'blackbox-http',
    ])
      expect(jobs.has(job), job).toBe(true);
    expect(jobs.get('node-exporter')?.static_configs?.[0].targets).toEqual(['node-exporter:9100']);
    expect(jobs.get('cadvisor')?.static_configs?.[0].targets).toEqual(['cadvisor:8080']);
    expect(jobs.get('grafana')?.static_configs?.[0].targets).toEqual(['grafana:3000']);
    const probes = jobs.get('blackbox-http');
    expect(probes?.params).toEqual({ module: ['http_2xx'] });
    expect(probes?.static_configs?.[0].targets).toEqual(
      expect.arrayContaining([
        'http://gateway:3000/health/ready',
        'http://gateway:3000/.well-known/jwks.json',
      ]),
    );
    expect(probes?.relabel_configs).toContainEqual({
      target_label: '__address__',
      replacement: 'blackbox-exporter:9115',
    });
    const blackbox = readYaml<{ modules: Record<string, { prober: string }> }>(
      join(repoRoot, 'infra/blackbox/blackbox.yml'),
    );
    expect(blackbox.modules.http_2xx.prober).toBe('http');
    expect(config.alerting?.alertmanagers[0].static_configs[0].targets).toEqual(['alertmanager:9093']);
  });

  it('passes amtool check-config, groups by alert and service, inhibits what ServiceDown explains, and delivers to the webhook', () => {
    const result = tool('amtool', ['check-config', ALERTMANAGER_FILE]);
    expect(result.status, result.output).toBe(0);
    const config = readYaml<AlertmanagerConfig>(ALERTMANAGER_FILE);
    expect(config.route.group_by).toEqual(['alertname', 'service']);
    expect(config.receivers.find((r) => r.name === config.route.receiver)?.webhook_configs?.[0].url).toBe(
      'http://alert-webhook:9095/alerts',
    );
    const fromServiceDown = (config.inhibit_rules ?? []).filter((rule) =>
      rule.source_matchers?.includes('alertname="ServiceDown"'),
    );
    expect(fromServiceDown.some((rule) => rule.equal?.includes('service'))).toBe(true);
    // Every alert name an inhibition targets exists (a renamed alert would silently escape it).
    for (const rule of config.inhibit_rules ?? []) {
      for (const matcher of [...(rule.source_matchers ?? []), ...(rule.target_matchers ?? [])]) {
        const names = /^alertname=~?"(.+)"$/.exec(matcher)?.[1].split('|') ?? [];
        for (const name of names) expect(alertNames, matcher).toContain(name);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The real run.

interface Tool {
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

function startTool(command: string, args: string[]): Tool {
  const child = spawn(command, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => text,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

// Grafana dashboards (infra/grafana/dashboards/*.json, read as they are at run time).
interface GrafanaDatasource {
  type?: string;
  uid?: string;
}
interface GrafanaPanel {
  title?: string;
  type?: string;
  datasource?: GrafanaDatasource | string | null;
  targets?: { expr?: string; datasource?: GrafanaDatasource | string | null; refId?: string }[];
  panels?: GrafanaPanel[];
}
interface GrafanaVariable {
  name: string;
  type: string;
  query?: string | { query?: string };
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string | null;
  current?: { value?: string | string[] };
  options?: { value: string }[];
}
interface Dashboard {
  title: string;
  panels?: GrafanaPanel[];
  templating?: { list?: GrafanaVariable[] };
}

/** Metrics of what does not run here: exporters, cAdvisor, Grafana. */
const NOT_HERE: [RegExp, string][] = [
  [/\bnode_\w+/, 'node-exporter'],
  [/\b(container|machine)_\w+/, 'cAdvisor'],
  [/\bprobe_\w+/, 'blackbox exporter'],
  [/\bgrafana_\w+/, 'Grafana'],
];
const RANGE_S = 180;
const STEP_S = 3;

function isPrometheus(
  datasource: GrafanaDatasource | string | null | undefined,
  variables: GrafanaVariable[],
): boolean {
  if (datasource === undefined || datasource === null) return true; // the default data source: Prometheus
  if (typeof datasource === 'string')
    return /prometheus/i.test(datasource) || /^\$\{?\w+\}?$/.test(datasource);
  if (datasource.type === 'prometheus') return true;
  if (datasource.uid === '-- Mixed --') return true; // decided per target
  const variable = /^\$\{?(\w+)\}?$/.exec(datasource.uid ?? '')?.[1];
  return (
    variable !== undefined &&
    variables.some((v) => v.name === variable && v.type === 'datasource' && String(v.query) === 'prometheus')
  );
}

const queryOf = (variable: GrafanaVariable) =>
  typeof variable.query === 'object' ? (variable.query.query ?? '') : (variable.query ?? '');

/** The values a variable can take here: label_values() asked of the real Prometheus, a custom list, or its current value. */
async function variableValues(variable: GrafanaVariable, prometheus: string): Promise<string[]> {
  const query = queryOf(variable);
  const labelValues = /^label_values\(\s*(?:(.+),\s*)?(\w+)\s*\)$/.exec(query.trim());
  let values: string[];
  if (variable.type === 'query' && labelValues) {
    const [, selector, label] = labelValues;
    const match = selector ? `?match[]=${encodeURIComponent(selector)}` : '';
    values = (await getJson<{ data: string[] }>(`${prometheus}/api/v1/label/${label}/values${match}`)).data;
  } else if (variable.type === 'custom' || variable.type === 'interval') {
    values = query
      .split(',')
      .map((value) => value.trim())
      .filter(Boolean);
  } else {
    const current = variable.current?.value;
    values = (Array.isArray(current) ? current : [current ?? query]).filter(
      (value) => value && value !== '$__all',
    );
  }
  // "All" first when offered (what Grafana shows by default), then each value on its own.
  const all = variable.includeAll || variable.multi ? [variable.allValue ?? `(${values.join('|')})`] : [];
  return [...all, ...values];
}

function substitute(expr: string, values: Record<string, string>): string {
  const builtins: Record<string, string> = {
    __rate_interval: '1m',
    __interval: `${STEP_S}s`,
    __interval_ms: String(STEP_S * 1000),
    __range: `${RANGE_S}s`,
    __range_s: String(RANGE_S),
    __range_ms: String(RANGE_S * 1000),
  };
  return expr.replace(
    /\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g,
    (all, a?: string, b?: string, c?: string) => {
      const name = a ?? b ?? c ?? '';
      return builtins[name] ?? values[name] ?? all;
    },
  );
}

/** True when the range query over the last minutes returns at least one number (not NaN). */
async function hasData(prometheus: string, expr: string): Promise<boolean> {
  const end = Date.now() / 1000;
  const params = new URLSearchParams({
    query: expr,
    start: String(end - RANGE_S),
    end: String(end),
    step: String(STEP_S),
  });
  const body = await getJson<{ data: { result: { values: [number, string][] }[] } }>(
    `${prometheus}/api/v1/query_range?${params}`,
  );
  return body.data.result.some((series) => series.values.some(([, value]) => value !== 'NaN'));
}

/**
 * Every Prometheus query of the Grafana dashboards (infra/grafana/dashboards/*.json, as they are at run
 * time) run against `prometheus` over the last minutes: those that returned no number (`empty`), those
 * not checked here and why (`skipped`).
 */
async function dashboardQueries(
  prometheus: string,
): Promise<{ files: string[]; checked: number; empty: string[]; skipped: string[] }> {
  const files = existsSync(DASHBOARDS_DIR)
    ? readdirSync(DASHBOARDS_DIR)
        .filter((name) => name.endsWith('.json'))
        .sort()
    : [];
  const skipped: string[] = [];
  const empty: string[] = [];
  let checked = 0;
  for (const file of files) {
    const dashboard = JSON.parse(readFileSync(join(DASHBOARDS_DIR, file), 'utf8')) as Dashboard;
    const variables = dashboard.templating?.list ?? [];
    const values = new Map<string, string[]>();
    const panels: GrafanaPanel[] = [];
    const collect = (list: GrafanaPanel[] = []) =>
      list.forEach((panel) => (panels.push(panel), collect(panel.panels)));
    collect(dashboard.panels);
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        const where = `${file} › ${panel.title ?? panel.type} [${target.refId ?? '?'}]`;
        const datasource = target.datasource ?? panel.datasource;
        if (!target.expr || !isPrometheus(datasource, variables)) {
          skipped.push(
            `${where}: not a Prometheus query (${typeof datasource === 'object' && datasource ? datasource.type : String(datasource)})`,
          );
          continue;
        }
        const elsewhere = NOT_HERE.find(([pattern]) => pattern.test(target.expr ?? ''));
        if (elsewhere) {
          skipped.push(`${where}: ${elsewhere[1]}`);
          continue;
        }
        // Every combination of the variables it uses (a few at most), until one returns data.
        const used = variables.filter((v) =>
          new RegExp(`\\$\\{?${v.name}\\b|\\[\\[${v.name}\\]\\]`).test(target.expr ?? ''),
        );
        for (const variable of used)
          if (!values.has(variable.name))
            values.set(variable.name, await variableValues(variable, prometheus));
        let combinations: Record<string, string>[] = [{}];
        for (const variable of used) {
          combinations = combinations.flatMap((combination) =>
            (values.get(variable.name) ?? []).map((value) => ({ ...combination, [variable.name]: value })),
          );
        }
        let found = false;
        for (const combination of combinations.slice(0, 20)) {
          if (await hasData(prometheus, substitute(target.expr, combination))) {
            found = true;
            break;
          }
        }
        checked++;
        if (!found) empty.push(`${where}: ${target.expr}`);
      }
    }
  }
  return { files, checked, empty, skipped };
}

describe('the lab under Prometheus and Alertmanager (real run)', () => {
  const STOPPED: (typeof SERVICES)[number] = 'customer';
  let work: string;
  let lab: RunningLab | undefined;
  let fluentd: FluentdReceiver | undefined;
  let broker: RabbitMqBroker | undefined;
  let webhook: RunningProcess | undefined;
  let prometheus: Tool | undefined;
  let alertmanager: Tool | undefined;
  let promUrl: string;
  let amUrl: string;
  let jobs: { kept: string[]; left: string[] };
  let started = Date.now();
  let atStartUp: Awaited<ReturnType<typeof dashboardQueries>> | undefined;
  const timings: string[] = [];
  const mark = (what: string) => timings.push(`${what} at ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const tokenFor = async (gateway: string, form: Record<string, string>) => {
    const response = await fetch(`${gateway}/api/oauth/token`, {
      method: 'POST',
      body: new URLSearchParams(form),
    });
    return {
      status: response.status,
      body: (await response.json()) as { access_token?: string; refresh_token?: string },
    };
  };

  /** A few users' worth of the whole story through the gateway, failures included. */
  async function driveTraffic(gateway: string) {
    const json = { 'content-type': 'application/json' };
    const statuses: Record<string, number> = {};
    const call = async (name: string, path: string, init: RequestInit = {}) => {
      const response = await fetch(`${gateway}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });
      statuses[name] = response.status;
      return response.headers.get('content-type')?.includes('json')
        ? ((await response.json()) as Record<string, unknown>)
        : {};
    };
    for (let round = 0; round < 3; round++) {
      const email = `prom-${round}-${Date.now()}@example.com`;
      const password = `pw-${round}-correct-horse`;
      await call('sign-up', '/api/users', {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ email, password, name: `Prom ${round}` }),
      });
      const login = await tokenFor(gateway, { grant_type: 'password', username: email, password });
      statuses.token = login.status;
      await tokenFor(gateway, { grant_type: 'password', username: email, password: 'wrong-password' });
      if (login.body.refresh_token)
        await tokenFor(gateway, { grant_type: 'refresh_token', refresh_token: login.body.refresh_token });
      await tokenFor(gateway, {
        grant_type: 'client_credentials',
        client_id: 'admin-cli',
        client_secret: 'admin-cli-secret',
      });
      const auth = { authorization: `Bearer ${login.body.access_token}` };
      const page = (await call('products', '/api/products?limit=5')) as { items?: { id: string }[] };
      const productId = page.items?.[round]?.id ?? '';
      await call('product', `/api/products/${productId}`);
      await call('unknown product', '/api/products/000000000000000000000000');
      await call('jwks', '/.well-known/jwks.json');
      await call('me', '/api/customers/me', { headers: auth });
      const order = (await call('order', '/api/orders', {
        method: 'POST',
        headers: { ...json, ...auth, 'idempotency-key': `k-${round}-${Date.now()}` },
        body: JSON.stringify({ lines: [{ productId, quantity: 1 }] }),
      })) as { id?: string };
      await call('out of stock', '/api/orders', {
        method: 'POST',
        headers: { ...json, ...auth, 'idempotency-key': `oos-${round}-${Date.now()}` },
        body: JSON.stringify({ lines: [{ productId, quantity: 1000 }] }),
      });
      await call('orders', '/api/orders', { headers: auth });
      if (order.id) await call('cancel', `/api/orders/${order.id}/cancel`, { method: 'POST', headers: auth });
      await call('no token', '/api/orders');
      await call('unmatched', '/no/such/route');
    }
    return statuses;
  }

  /** Resolves once Prometheus has scraped every service successfully. */
  async function everyServiceTargetUp(): Promise<void> {
    await eventually('every service target up', 15_000, async () => {
      const { data } = await getJson<{
        data: { activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] };
      }>(`${promUrl}/api/v1/targets`);
      const services = data.activeTargets.filter((t) =>
        (SERVICES as readonly string[]).includes(t.labels.job),
      );
      const down = services
        .filter((t) => t.health !== 'up')
        .map((t) => `${t.labels.job}: ${t.health} ${t.lastError}`);
      if (services.length !== SERVICES.length || down.length > 0)
        throw new Error(`targets: ${services.length}, not up: ${down.join('; ')}`);
      return true;
    });
  }

  beforeAll(async () => {
    started = Date.now();
    work = mkdtempSync(join(tmpdir(), 'prometheus-e2e-'));
    const build = spawnSync(process.execPath, ['scripts/build.mjs'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (build.status !== 0) throw new Error(`build failed: ${build.stderr}`);
    const [promPort, amPort, webhookPort] = [await freePort(), await freePort(), await freePort()];
    promUrl = `http://127.0.0.1:${promPort}`;
    amUrl = `http://127.0.0.1:${amPort}`;
    // A broker of its own: the order events flow, and RabbitMQ's metrics are scraped (jobs rabbitmq*).
    [fluentd, broker] = await Promise.all([startFluentdReceiver(), startRabbitMq()]);
    const fluentEnv = { FLUENTD_HOST: '127.0.0.1', FLUENTD_PORT: String(fluentd.port) };

    const webhookToken = `e2e-${randomUUID()}`;
    webhook = startNode('dist/apps/alert-webhook/src/main.js', [], {
      env: {
        ...fluentEnv,
        HOST: '127.0.0.1',
        ALERT_WEBHOOK_PORT: String(webhookPort),
        ALERT_WEBHOOK_TOKEN: webhookToken,
      },
    });
    const running = await startLab({ ...fluentEnv, AMQP_URL: broker.url });
    lab = running;
    mark('lab ready');

    // The configuration npm start derives from infra/ (scripts/monitoring.mjs), for this lab's ports.
    const derived = writeMonitoringConfig({
      dir: join(work, 'config'),
      intervalMs: LOCAL_INTERVAL_MS,
      token: webhookToken,
      webhookUrl: `http://127.0.0.1:${webhookPort}`,
      targets: monitoringTargets({
        services: Object.fromEntries(
          SERVICES.map((service) => [service, new URL(running.urls[service]).host]),
        ),
        prometheus: `127.0.0.1:${promPort}`,
        alertmanager: `127.0.0.1:${amPort}`,
        alertWebhook: `127.0.0.1:${webhookPort}`,
        rabbitmq: new URL(broker.prometheusUrl).host,
      }),
    });
    jobs = derived;
    alertmanager = startTool(
      'prometheus-alertmanager',
      alertmanagerArgs({
        configFile: derived.alertmanagerFile,
        dataDir: join(work, 'alertmanager'),
        port: amPort,
      }),
    );
    prometheus = startTool(
      'prometheus',
      prometheusArgs({
        configFile: derived.prometheusFile,
        dataDir: join(work, 'tsdb'),
        port: promPort,
        intervalMs: LOCAL_INTERVAL_MS,
      }),
    );
    await Promise.all([
      eventually('Prometheus ready', 15_000, async () =>
        (await fetch(`${promUrl}/-/ready`)).ok ? true : undefined,
      ),
      eventually('Alertmanager ready', 15_000, async () =>
        (await fetch(`${amUrl}/-/ready`)).ok ? true : undefined,
      ),
      webhook.waitForOutput(/alert-webhook listening on/, 15_000),
    ]);
    mark('Prometheus, Alertmanager and the webhook ready');
    // Scraped once before the traffic: a counter first seen after all of its increases has a rate of 0.
    await everyServiceTargetUp();
    // The dashboards of a quiet lab: every panel has a number (0 at least) before anything happens,
    // once rate() has two scrapes to work with.
    await eventually('two scrapes of every service', 15_000, async () =>
      (await hasData(
        promUrl,
        'min(count_over_time(up{job=~"gateway|oauth|customer|product|order"}[1m])) >= 3',
      ))
        ? true
        : undefined,
    );
    atStartUp = await dashboardQueries(promUrl);
    mark('dashboard queries checked at start-up');
    const statuses = await driveTraffic(lab.urls.gateway);
    expect(statuses).toMatchObject({
      'sign-up': 201,
      token: 200,
      products: 200,
      order: 201,
      'out of stock': 409,
      'no token': 401,
    });
    mark('traffic sent');
  }, 240_000);

  afterAll(async () => {
    webhook?.signal('SIGTERM');
    await Promise.all([prometheus?.stop(), alertmanager?.stop(), lab?.stop(), webhook?.exited]);
    await Promise.all([fluentd?.stop(), broker?.close()]);
    if (lab) expect(descendantsOf(lab.process.pid)).toEqual([]);
    rmSync(work, { recursive: true, force: true });
    console.log(`[prometheus e2e] ${timings.join(', ')}`);
  }, 40_000);

  it('scrapes every service (OpenMetrics, with exemplars) and loads every rule', async () => {
    expect(jobs.kept).toEqual(
      expect.arrayContaining([...SERVICES, 'prometheus', 'alertmanager', 'alert-webhook']),
    );
    console.log(
      `[prometheus e2e] jobs run here: ${jobs.kept.join(', ')}; left out (their targets do not run here): ${jobs.left.join(', ')}`,
    );
    await everyServiceTargetUp();
    mark('every service target up');
    const { data } = await getJson<{ data: { groups: { rules: { name: string; health: string }[] }[] } }>(
      `${promUrl}/api/v1/rules`,
    );
    const loaded = data.groups.flatMap((group) => group.rules);
    expect(loaded.map((rule) => rule.name).sort()).toEqual([...alertNames].sort());
    expect(loaded.filter((rule) => rule.health === 'err')).toEqual([]);
    // The up series carries the service label (target label) and the services' own series keep theirs.
    const up = await getJson<{ data: { result: { metric: Record<string, string> }[] } }>(
      `${promUrl}/api/v1/query?query=${encodeURIComponent('up{job="order"}')}`,
    );
    expect(up.data.result[0]?.metric).toMatchObject({ job: 'order', service: 'order' });
    const exemplars = await getJson<{ data: unknown[] }>(
      `${promUrl}/api/v1/query_exemplars?${new URLSearchParams({ query: 'http_server_request_duration_seconds_bucket', start: String(started / 1000 - 60), end: String(Date.now() / 1000 + 1) })}`,
    );
    expect(exemplars.data.length).toBeGreaterThan(0);
    // For the HighMemory threshold (200 MiB of a 256 MiB container): what the services use here.
    const rss = await getJson<{
      data: { result: { metric: Record<string, string>; value: [number, string] }[] };
    }>(
      `${promUrl}/api/v1/query?query=${encodeURIComponent('max by (service) (max_over_time(process_resident_memory_bytes{service!=""}[5m]))')}`,
    );
    const mib = rss.data.result.map(
      (r) => `${r.metric.service} ${Math.round(Number(r.value[1]) / 2 ** 20)} MiB`,
    );
    console.log(`[prometheus e2e] peak resident memory after the traffic: ${mib.sort().join(', ')}`);
  }, 30_000);

  it(`fires ServiceDown when ${STOPPED} stops, through Alertmanager to the webhook's log`, async () => {
    if (!lab || !webhook || !fluentd) throw new Error('the lab did not start');
    const pid = descendantsOf(lab.process.pid).find((candidate) => {
      try {
        return readFileSync(`/proc/${candidate}/cmdline`, 'utf8').includes(
          `dist/apps/${STOPPED}/src/main.js`,
        );
      } catch {
        return false;
      }
    });
    expect(pid, `the ${STOPPED} process among the lab's`).toBeDefined();
    process.kill(pid ?? 0, 'SIGKILL');
    mark(`${STOPPED} killed`);
    // Calls that need it now fail: 503s at the gateway, errors on its callers' client side.
    const admin = await tokenFor(lab.urls.gateway, {
      grant_type: 'client_credentials',
      client_id: 'admin-cli',
      client_secret: 'admin-cli-secret',
    });
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${lab.urls.gateway}/api/customers?limit=1`, {
        headers: { authorization: `Bearer ${admin.body.access_token}` },
      });
      expect(response.status).toBe(503);
    }

    const firing = await eventually('ServiceDown firing in Prometheus', 20_000, async () => {
      const { data } = await getJson<{
        data: { alerts: { labels: Record<string, string>; state: string }[] };
      }>(`${promUrl}/api/v1/alerts`);
      return data.alerts.find(
        (a) => a.labels.alertname === 'ServiceDown' && a.labels.service === STOPPED && a.state === 'firing',
      );
    });
    expect(firing.labels).toMatchObject({ severity: 'critical', job: STOPPED });
    mark('ServiceDown firing in Prometheus');

    const filter = encodeURIComponent('alertname="ServiceDown"');
    const managed = await eventually('ServiceDown in Alertmanager', 15_000, async () => {
      const alerts = await getJson<
        { labels: Record<string, string>; status: { state: string }; annotations: Record<string, string> }[]
      >(`${amUrl}/api/v2/alerts?filter=${filter}`);
      return alerts.find((a) => a.labels.service === STOPPED);
    });
    expect(managed.status.state).toBe('active');
    expect(managed.annotations.runbook_url).toBe(`${RUNBOOK_BASE}#service-down`);
    mark('ServiceDown in Alertmanager');

    const logged = await eventually('ServiceDown in the webhook log', 15_000, async () =>
      webhook
        ?.output()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((record) => record['alert.name'] === 'ServiceDown' && record['alert.service'] === STOPPED),
    );
    expect(logged).toMatchObject({
      service: 'alert-webhook',
      level: 'error',
      'alert.status': 'firing',
      'alert.severity': 'critical',
      'alert.runbook_url': `${RUNBOOK_BASE}#service-down`,
    });
    expect(logged['alert.fingerprint']).toMatch(/^[0-9a-f]{16}$/);
    mark('ServiceDown in the webhook log');
    const shipped = await fluentd.waitFor(
      (records) =>
        records.some((r) => r.tag === 'app.alert-webhook' && r.record['alert.name'] === 'ServiceDown'),
      10_000,
    );
    expect(
      shipped.find((r) => r.tag === 'app.alert-webhook' && r.record['alert.name'] === 'ServiceDown')?.record,
    ).toMatchObject({ 'alert.service': STOPPED });
  }, 60_000);

  it('returns data for every Prometheus panel right after start-up, before any traffic or fault', (context) => {
    if (!atStartUp || atStartUp.files.length === 0) context.skip();
    const { checked, empty, skipped } = atStartUp as NonNullable<typeof atStartUp>;
    // A quantile or a ratio of requests that have not happened is undefined (0 / 0): no number is the
    // truth there. Every count, rate and state has one, 0 at least.
    const undefinedWithoutTraffic = (query: string) => /histogram_quantile\(|\)\s*\/\s*\(?sum/.test(query);
    const missing = empty.filter((query) => !undefinedWithoutTraffic(query));
    console.log(
      `[prometheus e2e] at start-up, dashboard queries with data: ${checked - empty.length}/${checked} (skipped ${skipped.length}; ${empty.length - missing.length} quantiles and ratios of no traffic)`,
    );
    expect(checked).toBeGreaterThan(0);
    expect(missing).toEqual([]);
  });

  it('returns data for every Prometheus panel of the Grafana dashboards', async (context) => {
    const { files, checked, empty, skipped } = await dashboardQueries(promUrl);
    if (files.length === 0) {
      console.log('[prometheus e2e] no dashboards in infra/grafana/dashboards: nothing to check');
      context.skip();
    }
    console.log(
      `[prometheus e2e] dashboard queries with data: ${checked - empty.length}/${checked}; skipped ${skipped.length}:\n  ${skipped.join('\n  ')}`,
    );
    mark('dashboard queries checked');
    expect(checked).toBeGreaterThan(0);
    expect(empty).toEqual([]);
  }, 60_000);

  it('stops the webhook on SIGTERM with exit code 0', async () => {
    webhook?.signal('SIGTERM');
    expect(await webhook?.exited).toBe(0);
    expect(webhook?.output()).toMatch(/"message":"stopped"/);
  }, 15_000);
});
