import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, repoRoot } from './processes.js';

/** Where the tests find the broker's start script (Debian's rabbitmq-server package). */
export const RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';

export const rabbitMqInstalled = (): boolean => existsSync(RABBITMQ_SERVER);

export interface RabbitMqBroker {
  /** `amqp://127.0.0.1:<port>`: the same across {@link stop} and {@link start}. */
  readonly url: string;
  /** The rabbitmq_prometheus endpoint (`/metrics`, `/metrics/detailed?…`). */
  readonly prometheusUrl: string;
  /** Stops the broker (clean shutdown); its data stays, so {@link start} brings back its queues and messages. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and data. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  close(): Promise<void>;
  /** Everything the broker and its watchdog printed (for failure messages). */
  output(): string;
}

/**
 * A RabbitMQ broker of the test's own, on free ports and a temporary directory, run through
 * scripts/rabbitmq-child.mjs (the watchdog `npm start` uses), with the Prometheus plugin. Its stdin is a
 * pipe, so a test process that dies takes the broker with it. About 10 s to start, ~150 MB.
 */
export async function startRabbitMq(): Promise<RabbitMqBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'lab-rabbitmq-'));
  const [amqpPort, distPort, epmdPort, prometheusPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  let text = '';
  let running: { exited: Promise<void>; kill: () => void } | undefined;

  const start = async () => {
    const child = spawn(
      process.execPath,
      [
        join(repoRoot, 'scripts/rabbitmq-child.mjs'),
        '--data-dir',
        dir,
        '--amqp-port',
        String(amqpPort),
        '--dist-port',
        String(distPort),
        '--epmd-port',
        String(epmdPort),
        '--prometheus-port',
        String(prometheusPort),
        '--exit-with-parent',
      ],
      { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    running = { exited, kill: () => child.kill('SIGTERM') };
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        text += chunk.toString();
        if (/\[rabbitmq\] ready on /.test(text.slice(-4000))) resolve();
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      void exited.then(() =>
        reject(new Error(`the broker exited before it was ready:\n${text.slice(-3000)}`)),
      );
    });
  };

  const stop = async () => {
    if (!running) return;
    const { exited, kill } = running;
    running = undefined;
    kill();
    await exited;
  };

  await start();
  return {
    url: `amqp://127.0.0.1:${amqpPort}`,
    prometheusUrl: `http://127.0.0.1:${prometheusPort}`,
    stop,
    async start() {
      text = '';
      await start();
    },
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    output: () => text,
  };
}
