import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  descendantsOf,
  freePort,
  isAlive,
  killAll,
  portIsFree,
  type RunningProcess,
  startNode,
} from '#lab/testing';

/**
 * `npm start` owns what it starts: whatever ends it, no process it started is left and the store's port is free.
 * Most cases start the store and one service (`npm start -- product`); test/start.e2e-spec.ts does Ctrl-C on the
 * whole lab.
 */
interface Launch {
  lab: RunningProcess;
  storePort: number;
  servicePort: number;
  /** Every process seen under the launcher so far (recorded while it lives: its orphans are no longer under it). */
  seen: Set<number>;
}

const dataDirs: string[] = [];
const launches: Launch[] = [];

async function launch(
  env: Record<string, string> = {},
  ports: { store?: number; service?: number } = {},
): Promise<Launch> {
  const dataDir = env.EMBEDDED_MONGO_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'lab-lifecycle-'));
  dataDirs.push(dataDir);
  const storePort = ports.store ?? (await freePort());
  const servicePort = ports.service ?? (await freePort());
  const lab = startNode('scripts/start.mjs', ['product'], {
    group: true, // as from a terminal: signal() reaches the launcher's whole process group
    env: {
      MONGO_URL: '',
      EMBEDDED_MONGO_PORT: String(storePort),
      EMBEDDED_MONGO_DATA_DIR: dataDir,
      PRODUCT_PORT: String(servicePort),
      ...env,
    },
  });
  const seen = new Set<number>();
  const record = () => {
    for (const pid of descendantsOf(lab.pid)) seen.add(pid);
  };
  const timer = setInterval(record, 25);
  void lab.exited.then(() => clearInterval(timer));
  const launched = { lab, storePort, servicePort, seen };
  launches.push(launched);
  return launched;
}

async function ready(launched: Launch): Promise<void> {
  await launched.lab.waitForOutput(/all 1 services ready in/, 60_000);
  const running = descendantsOf(launched.lab.pid);
  for (const pid of running) launched.seen.add(pid);
  expect(running).toHaveLength(2); // the store and product
}

/** Every process the launcher started is gone, and the store's port takes a new listener. */
async function expectNothingLeft({ seen, storePort }: Launch): Promise<void> {
  const pids = [...seen];
  await expect.poll(() => pids.filter(isAlive), { timeout: 30_000, interval: 100 }).toEqual([]);
  await expect(portIsFree(storePort)).resolves.toBe(true);
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

afterEach(() => {
  // A failed case must not leave processes for the next one.
  for (const { lab, seen } of launches.splice(0)) {
    lab.signal('SIGKILL');
    killAll(seen);
  }
});

afterAll(() => {
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

describe('npm start, however it ends', () => {
  it('stops the service and then the store on SIGTERM to the launcher alone', async () => {
    const launched = await launch();
    await ready(launched);
    process.kill(launched.lab.pid, 'SIGTERM');
    expect(await launched.lab.exited).toBe(0);
    await expectNothingLeft(launched);
    const output = launched.lab.output();
    expect(output).toMatch(/\[product\s*\] .*SIGTERM: readiness now 503/);
    // Services first, then the store.
    expect(output.indexOf('embedded-mongo: SIGTERM: stopping')).toBeGreaterThan(
      output.search(/\[product\s*\] .*"stopped"/),
    );
  }, 90_000);

  it('stops everything when the terminal hangs up (SIGHUP to the whole group)', async () => {
    const launched = await launch();
    await ready(launched);
    launched.lab.signal('SIGHUP');
    expect(await launched.lab.exited).toBe(0);
    await expectNothingLeft(launched);
    expect(launched.lab.output()).toMatch(/\[product\s*\] .*SIGTERM: readiness now 503/);
  }, 90_000);

  it('stops everything on SIGHUP to the launcher alone', async () => {
    const launched = await launch();
    await ready(launched);
    process.kill(launched.lab.pid, 'SIGHUP');
    expect(await launched.lab.exited).toBe(0);
    await expectNothingLeft(launched);
  }, 90_000);

  it('leaves nothing behind when the launcher itself is killed (SIGKILL)', async () => {
    const launched = await launch();
    await ready(launched);
    process.kill(launched.lab.pid, 'SIGKILL');
    expect(await launched.lab.exited).toBe('SIGKILL');
    await expectNothingLeft(launched);
  }, 90_000);

  it('stops everything when npm, its parent, is killed (SIGKILL) and leaves the launcher orphaned', async () => {
    // A shell stands in for npm: it runs the launcher as a child (not exec), as `npm start` does.
    const storePort = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'lab-lifecycle-'));
    dataDirs.push(dataDir);
    const npm = startNode('scripts/start.mjs', ['product'], {
      underShell: true,
      env: {
        MONGO_URL: '',
        EMBEDDED_MONGO_PORT: String(storePort),
        EMBEDDED_MONGO_DATA_DIR: dataDir,
        PRODUCT_PORT: String(await freePort()),
      },
    });
    const launched: Launch = { lab: npm, storePort, servicePort: 0, seen: new Set() };
    launches.push(launched);
    await npm.waitForOutput(/all 1 services ready in/, 60_000);
    for (const pid of descendantsOf(npm.pid)) launched.seen.add(pid);
    expect(launched.seen.size).toBe(3); // the launcher, the store and product
    process.kill(npm.pid, 'SIGKILL');
    await expectNothingLeft(launched);
  }, 90_000);

  it('leaves nothing behind when the launcher is killed while the services are still starting', async () => {
    const launched = await launch();
    await launched.lab.waitForOutput(/embedded-mongo ready on/);
    await expect
      .poll(() => descendantsOf(launched.lab.pid).length, { timeout: 10_000, interval: 10 })
      .toBe(2);
    for (const pid of descendantsOf(launched.lab.pid)) launched.seen.add(pid);
    process.kill(launched.lab.pid, 'SIGKILL');
    expect(await launched.lab.exited).toBe('SIGKILL');
    expect(launched.lab.output()).not.toContain('services ready');
    await expectNothingLeft(launched);
  }, 90_000);

  it('stops the store when a service cannot start, and exits non-zero', async () => {
    const servicePort = await freePort();
    const taken = await listen(servicePort);
    try {
      const launched = await launch({}, { service: servicePort });
      expect(await launched.lab.exited).toBe(1);
      expect(launched.lab.output()).toMatch(/start-up failed: product exited before it was ready/);
      expect([...launched.seen].length).toBeGreaterThanOrEqual(1); // the store, at least, had started
      await expectNothingLeft(launched);
    } finally {
      taken.close();
    }
  }, 90_000);

  // The lab that is already running: a store (the second `npm start` must say which pid holds what).
  const holders: RunningProcess[] = [];
  const startHolder = async () => {
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'lab-lifecycle-'));
    dataDirs.push(dataDir);
    const holder = startNode('dist/libs/embedded-mongo/src/cli.js', [
      '--port',
      String(port),
      '--data-dir',
      dataDir,
    ]);
    holders.push(holder);
    await holder.waitForOutput(/embedded-mongo ready on/);
    return { holder, port, dataDir };
  };
  afterAll(async () => {
    for (const holder of holders) holder.signal('SIGTERM');
    await Promise.all(holders.map((holder) => holder.exited));
  });

  it.each([
    ['port', 'the address is already in use by pid'],
    ['data directory', 'is in use by embedded-mongo \\(pid'],
  ])(
    'names the pid of a live store that holds the %s, starts nothing and leaves the holder alone',
    async (what, message) => {
      const { holder, port, dataDir } = await startHolder();
      const launched =
        what === 'port'
          ? await launch({}, { store: port })
          : await launch({ EMBEDDED_MONGO_DATA_DIR: dataDir });
      expect(await launched.lab.exited).toBe(1);
      const output = launched.lab.output();
      expect(output).toMatch(
        new RegExp(
          `start-up failed: the embedded MongoDB store did not start: .*${message} ${holder.pid}\\b`,
        ),
      );
      expect(output).not.toContain('[product');
      const pids = [...launched.seen];
      await expect.poll(() => pids.filter(isAlive), { timeout: 30_000, interval: 100 }).toEqual([]);
      expect(isAlive(holder.pid)).toBe(true);
    },
    90_000,
  );
});
