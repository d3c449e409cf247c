import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type RunningProcess, startNode } from './processes.js';

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
  stop(): Promise<void>;
}

/**
 * The whole lab as `npm start` runs it (the five services and an embedded store), on free ports and a
 * fresh data directory, so specs never meet a lab a developer has running.
 */
export async function startLab(env: Record<string, string> = {}, services: readonly LabService[] = SERVICES): Promise<RunningLab> {
  const dataDir = mkdtempSync(join(tmpdir(), 'lab-'));
  const ports = {} as Record<LabService, number>;
  for (const service of SERVICES) ports[service] = await freePort();
  // The store's port is picked too: left to the OS (port 0), it could get one just picked for a service.
  const mongoPort = String(await freePort());
  const portEnv = Object.fromEntries(SERVICES.map((s) => [`${s.toUpperCase()}_PORT`, String(ports[s])]));
  const lab = startNode('scripts/start.mjs', services.length === SERVICES.length ? [] : [...services], {
    group: true,
    // A rate limit no spec reaches by accident (the specs of the limit set their own).
    env: { ...portEnv, MONGO_URL: '', EMBEDDED_MONGO_PORT: mongoPort, EMBEDDED_MONGO_DATA_DIR: dataDir, RATE_LIMIT_REQUESTS: '1000000', ...env },
  });
  try {
    await lab.waitForOutput(new RegExp(`all ${services.length} services ready in`), 60_000);
  } catch (error) {
    lab.signal('SIGKILL');
    throw error;
  }
  const mongoUrl = /embedded-mongo ready on (mongodb:\/\/\S+)/.exec(lab.output())?.[1] ?? '';
  return {
    mongoUrl,
    env: { ...portEnv, RATE_LIMIT_REQUESTS: '1000000', ...env, MONGO_URL: mongoUrl },
    urls: Object.fromEntries(SERVICES.map((s) => [s, `http://127.0.0.1:${ports[s]}`])) as Record<LabService, string>,
    process: lab,
    async stop() {
      lab.signal('SIGINT');
      const timer = setTimeout(() => lab.signal('SIGKILL'), 20_000);
      await lab.exited;
      clearTimeout(timer);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
