import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  descendantsOf,
  eventually,
  isAlive,
  killAll,
  type RunningLab,
  SERVICES,
  startLab,
} from '#lab/testing';
import { composeRuleFiles, type PrometheusRuleFile } from '../scripts/monitoring.mjs';

// Alerts without Docker: `npm start` with Prometheus and Alertmanager installed (Debian's packages, which
// scripts/infra-tools.mjs installs) runs them and the alert-webhook beside the services, scraping every
// second (PROMETHEUS_INTERVAL=1s) with the rules of infra/; a fault switched on through the gateway
// fires its alert through Alertmanager to the webhook; nothing of it outlives the launcher.

interface Alert {
  labels: Record<string, string>;
  state?: string;
  status?: string;
}

async function getJson<T>(url: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

const commandLine = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
};

/** The monitoring processes among the lab's: the two binaries, their guards and the webhook. */
function monitoringProcesses(lab: RunningLab) {
  const pids = descendantsOf(lab.process.pid);
  const find = (pattern: RegExp) => pids.filter((pid) => pattern.test(commandLine(pid)));
  return {
    prometheus: find(/^\S*\/prometheus --config\.file/),
    alertmanager: find(/^\S*\/prometheus-alertmanager --config\.file|^\S*\/alertmanager --config\.file/),
    guards: find(/scripts\/child-guard\.mjs/),
    webhook: find(/dist\/apps\/alert-webhook\/src\/main\.js/),
    all: pids,
  };
}

const alertNames = composeRuleFiles()
  .flatMap((file) => (parse(readFileSync(file, 'utf8')) as PrometheusRuleFile).groups)
  .flatMap((group) => group.rules.flatMap((rule) => rule.alert ?? []));

describe('npm start with Prometheus and Alertmanager installed', () => {
  let lab: RunningLab | undefined;
  let prometheus = '';
  let webhook = '';

  const brokerDir = mkdtempSync(join(tmpdir(), 'lab-monitoring-broker-'));

  beforeAll(async () => {
    // With the broker npm start runs itself (rabbitmq-server is installed here): its metrics are scraped too.
    lab = await startLab({ AMQP_URL: '', BROKER_DATA_DIR: brokerDir }, SERVICES, {
      monitoring: { interval: '1s' },
    });
    prometheus = lab.monitoring?.prometheus ?? '';
    webhook = lab.monitoring?.alertWebhook ?? '';
  }, 300_000); // startLab's own limits first (ready with the broker 150 s, monitoring 120 s): they say why

  afterAll(async () => {
    await lab?.stop();
    rmSync(brokerDir, { recursive: true, force: true });
  }, 60_000);

  it('prints their URLs, and Prometheus scrapes every service and the broker with the rules of infra/ scaled to its interval', async () => {
    const output = lab?.process.output() ?? '';
    expect(output).toMatch(new RegExp(`\\[launcher\\]\\s+prometheus\\s+${prometheus}`));
    expect(output).toContain(lab?.monitoring?.alertmanager);
    expect(output).toContain(`${webhook}/alerts`);
    expect(output).toMatch(/\[launcher\] monitoring ready in [\d.]+ s: Prometheus scrapes gateway, /);
    // Started once the services were ready: they never hold up "ready".
    expect(output.indexOf('all 5 services ready in')).toBeGreaterThan(0);
    expect(output.search(/^\[alert-webhook\]/m)).toBeGreaterThan(output.indexOf('all 5 services ready in'));

    const { data: status } = await getJson<{ data: { yaml: string } }>(`${prometheus}/api/v1/status/config`);
    expect(parse(status.yaml)).toMatchObject({
      global: { evaluation_interval: '1s', scrape_interval: '1s' },
    });

    const up = await eventually(
      'every service, Prometheus, Alertmanager and the webhook scraped',
      30_000,
      async () => {
        const { data } = await getJson<{
          data: { activeTargets: { labels: Record<string, string>; health: string }[] };
        }>(`${prometheus}/api/v1/targets`);
        const healthy = data.activeTargets.filter((t) => t.health === 'up').map((t) => t.labels.job);
        const wanted = [
          ...SERVICES,
          'prometheus',
          'alertmanager',
          'alert-webhook',
          'rabbitmq',
          'rabbitmq-queues',
        ];
        return wanted.every((job) => healthy.includes(job)) ? data.activeTargets : undefined;
      },
    );
    expect(up.find((t) => t.labels.job === 'order')?.labels).toMatchObject({ service: 'order' });

    const { data } = await getJson<{
      data: { groups: { rules: { name: string; health: string; duration: number; query: string }[] }[] };
    }>(`${prometheus}/api/v1/rules`);
    const rules = data.groups.flatMap((group) => group.rules);
    expect(rules.map((rule) => rule.name).sort()).toEqual([...alertNames].sort());
    expect(rules.filter((rule) => rule.health === 'err')).toEqual([]);
    // for: 30s and [5m] under Compose's 15 s; 15 times shorter at 1 s.
    expect(rules.find((rule) => rule.name === 'ServiceDown')?.duration).toBe(2);
    expect(rules.find((rule) => rule.name === 'HighErrorRatio')?.query).toContain('[20s]');
  });

  it('fires FaultInjectionActive for a fault switched on through the gateway, through Alertmanager to the webhook, and resolves it', async () => {
    if (!lab) throw new Error('the lab did not start');
    const gateway = lab.urls.gateway;
    const { access_token: token } = await getJson<{ access_token: string }>(`${gateway}/api/oauth/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: 'admin-cli',
        client_secret: 'admin-cli-secret',
      }),
    });
    const faults = (method: string, body?: unknown) =>
      fetch(`${gateway}/api/admin/faults/product`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    expect((await faults('PUT', { latency: { minMs: 50, maxMs: 50 } })).status).toBe(200);

    const isFault = (alert: Alert) =>
      alert.labels.alertname === 'FaultInjectionActive' && alert.labels.service === 'product';
    const firing = await eventually('FaultInjectionActive firing in Prometheus', 30_000, async () => {
      const { data } = await getJson<{ data: { alerts: Alert[] } }>(`${prometheus}/api/v1/alerts`);
      return data.alerts.find((alert) => isFault(alert) && alert.state === 'firing');
    });
    expect(firing.labels).toMatchObject({ fault: 'latency', severity: 'info' });

    const arrived = await eventually('FaultInjectionActive at the webhook', 30_000, async () => {
      const { alerts } = await getJson<{ alerts: (Alert & { receivedAt: string })[] }>(`${webhook}/alerts`);
      return alerts.find((alert) => isFault(alert) && alert.status === 'firing');
    });
    expect(arrived.labels).toMatchObject({ fault: 'latency', lab: 'observability-lab' });
    expect(lab.process.output()).toMatch(/\[alert-webhook\] .*"alert\.name":"FaultInjectionActive"/);

    expect((await faults('DELETE')).status).toBe(200);
    await eventually('FaultInjectionActive resolved at the webhook', 45_000, async () => {
      const { alerts } = await getJson<{ alerts: Alert[] }>(`${webhook}/alerts`);
      return alerts.find((alert) => isFault(alert) && alert.status === 'resolved');
    });
  }, 120_000);

  it('stops Prometheus, Alertmanager and the webhook with everything else on Ctrl-C', async () => {
    if (!lab) throw new Error('the lab did not start');
    const processes = monitoringProcesses(lab);
    expect(processes.prometheus).toHaveLength(1);
    expect(processes.alertmanager).toHaveLength(1);
    expect(processes.guards).toHaveLength(2);
    expect(processes.webhook).toHaveLength(1);
    await lab.stop(); // SIGINT to the launcher's group, as a terminal's Ctrl-C; waits for every process
    lab = undefined;
    expect(processes.all.filter(isAlive)).toEqual([]);
  }, 60_000);
});

describe('npm start with monitoring, killed with SIGKILL', () => {
  let lab: RunningLab | undefined;
  let left: number[] = [];

  afterAll(async () => {
    killAll(left.filter(isAlive));
    await lab?.stop();
  }, 60_000);

  it('takes Prometheus, Alertmanager and the webhook down with it', async () => {
    lab = await startLab({}, ['gateway'], { monitoring: true });
    const processes = monitoringProcesses(lab);
    expect([...processes.prometheus, ...processes.alertmanager, ...processes.webhook]).toHaveLength(3);
    left = processes.all;
    lab.process.signal('SIGKILL');
    await expect.poll(() => processes.all.filter(isAlive), { timeout: 30_000, interval: 200 }).toEqual([]);
  }, 150_000);
});
