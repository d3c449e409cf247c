import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { descendantsOf, freePort, isAlive, killAll, type RunningProcess, startNode } from './processes.js';

export const SERVICES = ['gateway', 'oauth', 'customer', 'product', 'order'] as const;
export type LabService = (typeof SERVICES)[number];

export interface RunningLab {
  /** Base URL of each service, e.g. `urls.gateway` = `http://127.0.0.1:<port>`. */
  readonly urls: Readonly<Record<LabService, string>>;
  readonly process: RunningProcess;
  /** The embedded store every service of this lab uses. */
  readonly mongoUrl: string;
  /** The environment the lab's services got (ports, store), to start one more service into it. */
  readonly env: Readonly<Record<string, string>>;
  /** The store's data directory (the caller's when it passed `dataDir`, else a temporary one). */
  readonly dataDir: string;
  /** Prometheus, Alertmanager and the alert-webhook's base URLs, with the `monitoring` option. */
  readonly monitoring?: LabMonitoring;
  /** Ctrl-C, as a terminal sends it; waits until every process of the lab is gone. */
  stop(): Promise<void>;
}

export interface LabOptions {
  /**
   * Start the store on this data directory (e.g. one an earlier lab wrote). The caller owns it: `stop()`
   * leaves it in place. Without it the lab gets a fresh temporary directory that `stop()` removes.
   */
  dataDir?: string;
  /**
   * Prometheus, Alertmanager and the alert-webhook too, as `npm start` runs them (LAB_MONITORING=on: the
   * start fails when they are not installed), on free ports with their data in a temporary directory,
   * scraping and evaluating every `interval` (PROMETHEUS_INTERVAL; default `1s`). startLab then resolves
   * once they are ready as well.
   */
  monitoring?: boolean | { interval?: string };
}

export interface LabMonitoring {
  readonly prometheus: string;
  readonly alertmanager: string;
  /** The webhook's base URL (`GET /alerts` lists what it received). */
  readonly alertWebhook: string;
  /** What PROMETHEUS_INTERVAL was. */
  readonly interval: string;
}

/**
 * The whole lab as `npm start` runs it (the five services and an embedded store), on free ports and a
 * fresh data directory (or `options.dataDir`), so specs never meet a lab a developer has running.
 */
export async function startLab(
  env: Record<string, string> = {},
  services: readonly LabService[] = SERVICES,
  options: LabOptions = {},
): Promise<RunningLab> {
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'lab-'));
  const ports = {} as Record<LabService, number>;
  for (const service of SERVICES) ports[service] = await freePort();
  // The store's port is picked too: left to the OS (port 0), it could get one just picked for a service.
  const mongoPort = String(await freePort());
  const portEnv = Object.fromEntries(SERVICES.map((s) => [`${s.toUpperCase()}_PORT`, String(ports[s])]));
  const monitoringDir = options.monitoring ? mkdtempSync(join(tmpdir(), 'lab-monitoring-')) : undefined;
  let monitoring: LabMonitoring | undefined;
  let monitoringEnv: Record<string, string> = { LAB_MONITORING: 'off' };
  if (options.monitoring && monitoringDir) {
    const [prometheus, alertmanager, alertWebhook] = [await freePort(), await freePort(), await freePort()];
    const interval = (typeof options.monitoring === 'object' && options.monitoring.interval) || '1s';
    monitoring = {
      prometheus: `http://127.0.0.1:${prometheus}`,
      alertmanager: `http://127.0.0.1:${alertmanager}`,
      alertWebhook: `http://127.0.0.1:${alertWebhook}`,
      interval,
    };
    monitoringEnv = {
      LAB_MONITORING: 'on',
      PROMETHEUS_PORT: String(prometheus),
      ALERTMANAGER_PORT: String(alertmanager),
      ALERT_WEBHOOK_PORT: String(alertWebhook),
      PROMETHEUS_INTERVAL: interval,
      MONITORING_DATA_DIR: monitoringDir,
    };
  }
  const lab = startNode('scripts/start.mjs', services.length === SERVICES.length ? [] : [...services], {
    group: true,
    // A rate limit no spec reaches by accident (the specs of the limit set their own).
    env: {
      ...portEnv,
      MONGO_URL: '',
      // No broker (npm start would start one when rabbitmq-server is installed): the events specs pass AMQP_URL.
      AMQP_URL: 'none',
      EMBEDDED_MONGO_PORT: mongoPort,
      EMBEDDED_MONGO_DATA_DIR: dataDir,
      RATE_LIMIT_REQUESTS: '1000000',
      // Not beside every lab (they would share fixed ports): only when asked for.
      ...monitoringEnv,
      ...env,
    },
  });
  const removeDataDir = () => {
    if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
    if (monitoringDir) rmSync(monitoringDir, { recursive: true, force: true });
  };
  try {
    // With a broker of its own (AMQP_URL empty) the launcher says so once the broker is ready too, or
    // after its 90 s (BROKER_READY_TIMEOUT_MS): a loaded machine can take that long.
    const readyMs = env.AMQP_URL === '' ? 150_000 : 60_000;
    await lab.waitForOutput(new RegExp(`all ${services.length} services ready in`), readyMs);
    if (monitoring) {
      const [line] = await lab.waitForOutput(/\[launcher\] monitoring\b.*/, 120_000);
      if (!/monitoring ready/.test(line)) throw new Error(`monitoring did not start: ${line}`);
    }
  } catch (error) {
    await killLab(lab);
    removeDataDir();
    throw error;
  }
  const mongoUrl = /embedded-mongo ready on (mongodb:\/\/\S+)/.exec(lab.output())?.[1] ?? '';
  return {
    mongoUrl,
    dataDir,
    monitoring,
    env: { ...portEnv, RATE_LIMIT_REQUESTS: '1000000', ...env, MONGO_URL: mongoUrl },
    urls: Object.fromEntries(SERVICES.map((s) => [s, `http://127.0.0.1:${ports[s]}`])) as RunningLab['urls'],
    process: lab,
    async stop() {
      // Recorded before the launcher goes: its children outlive it only as orphans, no longer found under it.
      const pids = descendantsOf(lab.pid);
      lab.signal('SIGINT');
      const timer = setTimeout(() => void killLab(lab, pids).catch(() => undefined), 20_000); // waitGone below reports
      await lab.exited;
      clearTimeout(timer);
      await waitGone(pids, 20_000);
      removeDataDir();
    },
  };
}

/** SIGKILL to the launcher's group and to every process it started (in a group of its own or not); waits for all. */
async function killLab(lab: RunningProcess, known: readonly number[] = []): Promise<void> {
  const pids = [...new Set([...known, ...descendantsOf(lab.pid)])];
  lab.signal('SIGKILL');
  killAll(pids);
  await lab.exited;
  await waitGone(pids, 10_000);
}

async function waitGone(pids: readonly number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive)) {
    if (Date.now() > deadline)
      throw new Error(`processes still alive after ${timeoutMs} ms: ${pids.filter(isAlive).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
