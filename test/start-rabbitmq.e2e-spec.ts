import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  descendantsOf,
  freePort,
  isAlive,
  killAll,
  portIsFree,
  rabbitMqInstalled,
  type RunningProcess,
  startNode,
} from '#lab/testing';

/**
 * `npm start` with rabbitmq-server installed and no AMQP_URL starts a broker of its own for the order
 * events (through scripts/rabbitmq-child.mjs, since an Erlang VM cannot watch the launcher's pipe) and
 * leaves nothing of it behind, however it ends: not the VM, not its epmd, not their ports.
 */
interface Launch {
  lab: RunningProcess;
  customerPort: number;
  /** Every process seen under the launcher so far (recorded while it lives: its orphans are no longer under it). */
  seen: Set<number>;
}

const dirs: string[] = [];
const launches: Launch[] = [];

async function launch(): Promise<Launch> {
  const dir = mkdtempSync(join(tmpdir(), 'lab-broker-'));
  dirs.push(dir);
  const customerPort = await freePort();
  const lab = startNode('scripts/start.mjs', ['customer'], {
    group: true,
    env: {
      MONGO_URL: '',
      AMQP_URL: '',
      EMBEDDED_MONGO_PORT: String(await freePort()),
      EMBEDDED_MONGO_DATA_DIR: join(dir, 'mongo'),
      BROKER_DATA_DIR: join(dir, 'rabbitmq'),
      CUSTOMER_PORT: String(customerPort),
    },
  });
  const seen = new Set<number>();
  const timer = setInterval(() => {
    for (const pid of descendantsOf(lab.pid)) seen.add(pid);
  }, 25);
  void lab.exited.then(() => clearInterval(timer));
  const launched = { lab, customerPort, seen };
  launches.push(launched);
  return launched;
}

/** Waits until the lab and its broker are ready; answers the broker's AMQP and epmd ports. */
async function ready({ lab, customerPort, seen }: Launch): Promise<{ amqpPort: number; epmdPort: number }> {
  await lab.waitForOutput(/all 1 services ready in/, 120_000);
  const [, amqpPort, epmdPort] = (
    await lab.waitForOutput(/\[rabbitmq\] ready on amqp:\/\/127\.0\.0\.1:(\d+) .*epmd port (\d+)/, 5_000)
  ).map(Number);
  await lab.waitForOutput(/rabbitmq\s+amqp:\/\/127\.0\.0\.1:\d+ \(started here/, 5_000);
  // The consumer is connected: the broker is the lab's, not just running.
  await lab.waitForOutput(/consuming order events/, 30_000);
  for (const pid of descendantsOf(lab.pid)) seen.add(pid);
  expect(await portIsFree(customerPort)).toBe(false);
  return { amqpPort, epmdPort };
}

async function expectNothingLeft({ seen }: Launch, ports: number[]): Promise<void> {
  const pids = [...seen];
  await expect.poll(() => pids.filter(isAlive), { timeout: 40_000, interval: 100 }).toEqual([]);
  // epmd daemonizes (never under the launcher): its port says whether it is gone.
  for (const port of ports)
    await expect.poll(() => portIsFree(port), { timeout: 10_000, interval: 100 }).toBe(true);
}

afterEach(() => {
  for (const { lab, seen } of launches.splice(0)) {
    lab.signal('SIGKILL');
    killAll(seen);
  }
});

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!rabbitMqInstalled())('npm start with its own RabbitMQ', () => {
  it('starts a broker the customer service consumes from, and stops it after the services on Ctrl-C', async () => {
    const launched = await launch();
    const { amqpPort, epmdPort } = await ready(launched);
    launched.lab.signal('SIGINT');
    expect(await launched.lab.exited).toBe(0);
    await expectNothingLeft(launched, [amqpPort, epmdPort]);
    const output = launched.lab.output();
    expect(output.indexOf('[rabbitmq] SIGTERM: stopping the broker')).toBeGreaterThan(
      output.search(/\[customer\s*\] .*"stopped"/),
    );
  }, 180_000);

  it('leaves no broker and no epmd behind when the launcher itself is killed (SIGKILL)', async () => {
    const launched = await launch();
    const { amqpPort, epmdPort } = await ready(launched);
    process.kill(launched.lab.pid, 'SIGKILL');
    expect(await launched.lab.exited).toBe('SIGKILL');
    await expectNothingLeft(launched, [amqpPort, epmdPort]);
  }, 180_000);
});
