import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  type AlertmanagerConfig,
  type AlertmanagerRoute,
  composeRuleFiles,
  findCommand,
  formatDuration,
  localAlertmanagerConfig,
  localPrometheusConfig,
  monitoringTargets,
  parseDuration,
  type PrometheusConfig,
  type PrometheusRuleFile,
  prometheusArgs,
  scaleDuration,
  scaleExpression,
  scaleRuleFile,
  writeMonitoringConfig,
} from '../scripts/monitoring.mjs';
import { repoRoot } from '#lab/testing';

// scripts/monitoring.mjs: the local lab's Prometheus and Alertmanager configuration, derived from infra/.
const readYaml = <T>(file: string) => parse(readFileSync(file, 'utf8')) as T;
const composePrometheus = readYaml<PrometheusConfig>(join(repoRoot, 'infra/prometheus/prometheus.yml'));
const composeAlertmanager = readYaml<AlertmanagerConfig>(
  join(repoRoot, 'infra/alertmanager/alertmanager.yml'),
);
const SERVICES = ['gateway', 'oauth', 'customer', 'product', 'order'];
const local = (port: number) => `127.0.0.1:${port}`;
const targets = monitoringTargets({
  services: Object.fromEntries(SERVICES.map((service, i) => [service, local(13000 + i)])),
  prometheus: local(19090),
  alertmanager: local(19093),
  alertWebhook: local(19095),
});

describe('durations', () => {
  it('reads and writes Prometheus durations, compound ones included', () => {
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('4h')).toBe(14_400_000);
    expect(() => parseDuration('5 minutes')).toThrow('not a Prometheus duration');
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(667)).toBe('667ms');
    expect(formatDuration(5_760_000)).toBe('1h36m');
    expect(formatDuration(0)).toBe('0s');
  });

  it('divides a duration by r, keeps zero, and keeps a floor', () => {
    expect(scaleDuration('5m', 15)).toBe('20s');
    expect(scaleDuration('30s', 15)).toBe('2s');
    expect(scaleDuration('10s', 15)).toBe('667ms');
    expect(scaleDuration('0s', 15)).toBe('0s');
    expect(scaleDuration('5m', 1)).toBe('5m');
    expect(scaleDuration('1m', 60, 4000)).toBe('4s');
  });
});

describe(scaleExpression.name, () => {
  it('scales range selectors, subqueries and offsets', () => {
    expect(
      scaleExpression('sum by (service) (rate(http_server_request_duration_seconds_count[5m]))', 15),
    ).toBe('sum by (service) (rate(http_server_request_duration_seconds_count[20s]))');
    expect(scaleExpression('max_over_time(rate(x[1m])[30m:1m])', 15)).toBe(
      'max_over_time(rate(x[4s])[2m:4s])',
    );
    expect(scaleExpression('max_over_time(up[30m:])', 15)).toBe('max_over_time(up[2m:])');
    expect(scaleExpression('rate(x[5m] offset 1h)', 15)).toBe('rate(x[20s] offset 4m)');
  });

  it('leaves strings, label regular expressions and comments alone', () => {
    const expr = [
      'label_replace(resets(c{name=~"[a-z]+", queue=~".+\\\\.dlq"}[15m]), "service", "$1", "l", "(.+)")',
      '# a [5m] window in a comment',
      "and on() vector(1) unless x{path='[5m]'} offset_total",
    ].join('\n');
    expect(scaleExpression(expr, 15)).toBe(expr.replace('[15m]', '[1m]'));
  });

  it('never shrinks a range below the floor', () => {
    expect(scaleExpression('rate(x[30s])', 15, { minRangeMs: 4000 })).toBe('rate(x[4s])');
  });

  it('changes nothing at r = 1 (Compose)', () => {
    expect(scaleExpression('rate(x[5m])', 1)).toBe('rate(x[5m])');
  });
});

describe(scaleRuleFile.name, () => {
  const files = composeRuleFiles();

  it('finds the rule files prometheus.yml loads', () => {
    expect(files.map((file) => file.split('/').pop())).toEqual(
      readdirSync(join(repoRoot, 'infra/prometheus/rules'))
        .filter((name) => name.endsWith('.yml'))
        .sort(),
    );
  });

  it('scales every `for:` and every range by 15 s / interval, and leaves thresholds and everything else as in infra/', () => {
    for (const file of files) {
      const original = readYaml<PrometheusRuleFile>(file);
      const scaled = scaleRuleFile(original, 1000);
      original.groups.forEach((group, g) =>
        group.rules.forEach((rule, i) => {
          const copy = scaled.groups[g].rules[i];
          expect(copy.for, rule.alert).toBe(
            rule.for ? formatDuration(parseDuration(rule.for) / 15) : undefined,
          );
          const ranges = (expr: string) => [...expr.matchAll(/\[(\w+)\]/g)].map((m) => parseDuration(m[1]));
          expect(ranges(copy.expr), rule.alert).toEqual(
            ranges(rule.expr).map((ms) => Math.max(4000, ms / 15)),
          );
          const withoutRanges = (expr: string) => expr.replace(/\[\w+\]/g, '[]');
          expect(withoutRanges(copy.expr)).toBe(withoutRanges(rule.expr));
          expect({ ...copy, for: rule.for, expr: rule.expr }).toEqual(rule);
        }),
      );
    }
    const slow = files
      .map((file) => scaleRuleFile(readYaml<PrometheusRuleFile>(file), 1000))
      .flatMap((file) => file.groups.flatMap((group) => group.rules))
      .find((rule) => rule.alert === 'SlowResponses');
    expect(slow?.expr).toContain('[20s]');
  });

  it('leaves the rules as they are at Compose’s interval', () => {
    for (const file of files) {
      const original = readYaml<PrometheusRuleFile>(file);
      expect(scaleRuleFile(original, 15_000)).toEqual(original);
    }
  });
});

describe(localPrometheusConfig.name, () => {
  const { config, kept, left } = localPrometheusConfig(composePrometheus, {
    intervalMs: 1000,
    targets,
    rules: ['/tmp/rules/*.yml'],
  });
  const job = (name: string) => config.scrape_configs.find((j) => j.job_name === name);

  it('scrapes the services and the monitoring stack at their local addresses, with their labels', () => {
    expect(kept).toEqual([...SERVICES, 'prometheus', 'alertmanager', 'alert-webhook']);
    SERVICES.forEach((service, i) =>
      expect(job(service)).toEqual({
        job_name: service,
        honor_labels: true,
        static_configs: [{ targets: [local(13000 + i)], labels: { service } }],
      }),
    );
    expect(job('prometheus')?.static_configs?.[0].targets).toEqual([local(19090)]);
    expect(config.alerting?.alertmanagers[0].static_configs[0].targets).toEqual([local(19093)]);
  });

  it('leaves out what does not run here: Grafana, exporters, cAdvisor, probes, and RabbitMQ without a broker', () => {
    expect(left).toEqual([
      'rabbitmq',
      'rabbitmq-queues',
      'grafana',
      'node-exporter',
      'cadvisor',
      'blackbox-exporter',
      'blackbox-http',
    ]);
  });

  it("scrapes RabbitMQ's plugin, both jobs, when the broker runs", () => {
    const withBroker = localPrometheusConfig(composePrometheus, {
      intervalMs: 1000,
      targets: { ...targets, ...monitoringTargets({ ...emptyAddresses, rabbitmq: local(15692) }) },
      rules: [],
    });
    expect(withBroker.kept).toEqual(expect.arrayContaining(['rabbitmq', 'rabbitmq-queues']));
    const queues = withBroker.config.scrape_configs.find((j) => j.job_name === 'rabbitmq-queues');
    expect(queues).toMatchObject({
      metrics_path: '/metrics/detailed',
      static_configs: [{ targets: [local(15692)] }],
    });
  });

  it('scrapes and evaluates every interval, times out within it, and loads the given rules', () => {
    expect(config.global).toMatchObject({
      scrape_interval: '1s',
      scrape_timeout: '1s',
      evaluation_interval: '1s',
      external_labels: composePrometheus.global?.external_labels,
    });
    expect(config.rule_files).toEqual(['/tmp/rules/*.yml']);
    const compose = localPrometheusConfig(composePrometheus, { intervalMs: 15_000, targets, rules: [] });
    expect(compose.config.global).toMatchObject({ scrape_interval: '15s', scrape_timeout: '10s' });
  });
});

const emptyAddresses = { services: {}, prometheus: '', alertmanager: '', alertWebhook: '' };

describe(localAlertmanagerConfig.name, () => {
  const config = localAlertmanagerConfig(composeAlertmanager, {
    intervalMs: 1000,
    webhookUrl: 'http://127.0.0.1:19095',
    tokenFile: '/tmp/token',
  });

  it('sends to the local webhook with the token from the file', () => {
    const webhook = config.receivers.find((r) => r.name === config.route.receiver)?.webhook_configs?.[0];
    expect(webhook?.url).toBe('http://127.0.0.1:19095/alerts');
    expect(webhook?.http_config?.authorization).toEqual({ type: 'Bearer', credentials_file: '/tmp/token' });
  });

  it('divides group_wait, group_interval and repeat_interval by r on every route; grouping and inhibitions as in infra/', () => {
    expect(config.route).toMatchObject({ group_wait: '667ms', group_interval: '4s', repeat_interval: '16m' });
    const info = config.route.routes?.find((route: AlertmanagerRoute) =>
      route.matchers?.includes('severity="info"'),
    );
    expect(info?.repeat_interval).toBe('1h36m');
    expect(config.route.group_by).toEqual(composeAlertmanager.route.group_by);
    expect(config.inhibit_rules).toEqual(composeAlertmanager.inhibit_rules);
  });
});

describe(writeMonitoringConfig.name, () => {
  const dir = mkdtempSync(join(tmpdir(), 'monitoring-spec-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes prometheus.yml, the scaled rules, alertmanager.yml and the token only its owner may read', () => {
    const files = writeMonitoringConfig({
      dir,
      intervalMs: 1000,
      targets,
      webhookUrl: 'http://127.0.0.1:19095',
      token: 'a-token-of-this-run',
    });
    const prometheus = readYaml<PrometheusConfig>(files.prometheusFile);
    expect(prometheus.rule_files).toEqual([join(files.rulesDir, '*.yml')]);
    expect(readdirSync(files.rulesDir).sort()).toEqual(
      composeRuleFiles()
        .map((f) => f.split('/').pop())
        .sort(),
    );
    const services = readYaml<PrometheusRuleFile>(join(files.rulesDir, 'services.yml'));
    expect(services.groups[0].rules.find((rule) => rule.alert === 'ServiceDown')?.for).toBe('2s');
    expect(readFileSync(files.tokenFile, 'utf8')).toBe('a-token-of-this-run');
    expect(statSync(files.tokenFile).mode & 0o777).toBe(0o600);
    const alertmanager = readYaml<AlertmanagerConfig>(files.alertmanagerFile);
    expect(alertmanager.receivers[0].webhook_configs?.[0].http_config?.authorization?.credentials_file).toBe(
      files.tokenFile,
    );
  });
});

describe('command lines', () => {
  it('sends firing alerts again after a scaled resend delay, never below the interval', () => {
    const args = (intervalMs: number) =>
      prometheusArgs({ configFile: 'p.yml', dataDir: 'd', port: 19090, intervalMs });
    expect(args(1000)).toContain('--rules.alert.resend-delay=4s');
    expect(args(15_000)).toContain('--rules.alert.resend-delay=1m');
    expect(args(1000)).toContain('--web.listen-address=127.0.0.1:19090');
  });

  it('finds a command on PATH, the first name that exists', () => {
    expect(findCommand(['no-such-command-here', 'sh'], '/usr/bin:/bin')).toMatch(/\/sh$/);
    expect(findCommand(['no-such-command-here'], '/usr/bin:/bin')).toBeUndefined();
  });
});
