import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  descendantsOf,
  freePort,
  isAlive,
  portIsFree,
  type RunningProcess,
  startNode,
  waitForHttp,
} from '#lab/testing';
import { SERVICE_ENV } from '../scripts/service-flags.mjs';

const SERVICES = ['gateway', 'oauth', 'customer', 'product', 'order'] as const;

describe('npm start', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'lab-start-'));
  const ports: Record<string, number> = {};
  let mongoPort = 0;
  let lab: RunningProcess;
  let readyAfterMs = 0;

  beforeAll(async () => {
    for (const service of SERVICES) ports[service] = await freePort();
    const env = Object.fromEntries(SERVICES.map((s) => [`${s.toUpperCase()}_PORT`, String(ports[s])]));
    mongoPort = await freePort(); // not 0: the OS could give the store a port just picked above
    const started = Date.now();
    lab = startNode('scripts/start.mjs', [], {
      group: true,
      env: {
        ...env,
        MONGO_URL: '',
        // No broker of its own (test/start-rabbitmq.e2e-spec.ts covers that): five services and the store.
        AMQP_URL: 'none',
        EMBEDDED_MONGO_PORT: String(mongoPort),
        EMBEDDED_MONGO_DATA_DIR: dataDir,
        // Not inherited from the test worker (vitest.config.ts gives it one): the launcher must set it.
        MALLOC_MMAP_THRESHOLD_: undefined,
      },
    });
    await lab.waitForOutput(/all 5 services ready in/, 60_000);
    readyAfterMs = Date.now() - started;
  }, 90_000);

  afterAll(async () => {
    lab?.signal('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('brings every service to ready with its database reachable', async () => {
    console.info(`npm start: all five services ready after ${readyAfterMs} ms`);
    for (const service of SERVICES) {
      const body = await waitForHttp(`http://127.0.0.1:${ports[service]}/health/ready`, 200, 5000);
      expect(body).toMatchObject({ status: 'ok', info: { lifecycle: { status: 'up' } } });
      if (service !== 'gateway') expect(body).toMatchObject({ info: { database: { status: 'up' } } });
    }
  });

  it('prefixes every line of output with the process it came from and prints the URLs', () => {
    const output = lab.output();
    for (const service of SERVICES) {
      expect(output).toMatch(new RegExp(`^\\[${service}\\s*\\] .*listening on`, 'm'));
      expect(output).toContain(`http://127.0.0.1:${ports[service]}`);
    }
    expect(output).toMatch(/^\[mongo\s*\] embedded-mongo ready on mongodb:\/\/127\.0\.0\.1:\d+/m);
  });

  it("runs the store and every service with the services' environment (service-flags.mjs)", () => {
    const processes = descendantsOf(lab.pid);
    expect(processes).toHaveLength(6);
    for (const pid of processes) {
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      for (const [name, value] of Object.entries(SERVICE_ENV)) expect(environ).toContain(`${name}=${value}`);
    }
  });

  it('stops every process it started on Ctrl-C, the services before the store, and frees the ports', async () => {
    const processes = descendantsOf(lab.pid);
    expect(processes).toHaveLength(6); // five services and the store
    lab.signal('SIGINT'); // a terminal's Ctrl-C reaches the whole process group
    expect(await lab.exited).toBe(0);
    await expect.poll(() => processes.filter(isAlive), { timeout: 5000 }).toEqual([]);
    const output = lab.output();
    for (const service of SERVICES) {
      expect(output.indexOf('embedded-mongo: SIGTERM: stopping')).toBeGreaterThan(
        output.search(new RegExp(`\\[${service}\\s*\\] .*"stopped"`)),
      );
    }
    for (const port of [mongoPort, ...Object.values(ports)])
      await expect(portIsFree(port)).resolves.toBe(true);
  });
});

describe('npm start with a bad variable', () => {
  it('names the variable and exits non-zero without starting anything', async () => {
    const lab = startNode('scripts/start.mjs', [], { env: { ORDER_PORT: 'eighty' } });
    expect(await lab.exited).toBe(1);
    expect(lab.output()).toContain('ORDER_PORT must be an integer from 1 to 65535 (got "eighty")');
    expect(lab.output()).not.toContain('[mongo');
  });
});
