// Helpers of the scenario definitions that act on the local lab (`npm start`) or on Compose from the
// host: the processes behind a scrape target, the broker's AMQP URL, Compose's `.env`. Not a scenario
// (scripts/scenario-lib.mjs loads only scenarios/*.mjs).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

/** LISTEN ports on this machine by socket inode (Linux /proc/net). */
function listeningPorts() {
  const ports = new Map();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length >= 10 && fields[3] === '0A')
        ports.set(fields[9], parseInt(fields[1].split(':')[1], 16));
    }
  }
  return ports;
}

/**
 * The process of this user listening on `port`, with every port it listens on: `{ pid, ports }`, or
 * undefined (Linux only: elsewhere the scenarios that need it say so).
 */
export function processListeningOn(port) {
  const ports = listeningPorts();
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let listening;
    try {
      listening = readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
        try {
          const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
          const inode = link.startsWith('socket:[') ? link.slice(8, -1) : undefined;
          return inode && ports.has(inode) ? [ports.get(inode)] : [];
        } catch {
          return [];
        }
      });
    } catch {
      continue;
    }
    if (listening.includes(port)) return { pid: Number(pid), ports: listening };
  }
  return undefined;
}

/** The scrape URL of a job's first active target (`URL`), or undefined. */
export async function targetUrl(ctx, job) {
  const target = (await ctx.prometheus.targets()).find((t) => t.labels.job === job);
  return target && new URL(target.scrapeUrl);
}

export const isLocal = (url) => ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);

/** The variables of the repository's `.env` (Compose's settings). */
export function composeEnv() {
  return Object.fromEntries(
    readFileSync(join(ROOT, '.env'), 'utf8')
      .split('\n')
      .map((line) => /^([A-Z0-9_]+)=(.*)$/.exec(line.trim()))
      .filter(Boolean)
      .map(([, key, value]) => [key, value]),
  );
}

/**
 * A connection to the lab's broker: AMQP_URL when set; the broker `npm start` runs (its AMQP port is
 * the one beside its metrics port, a scrape target of job rabbitmq, that speaks AMQP); else Compose's,
 * published on 127.0.0.1 with the credentials of `.env`.
 */
export async function connectBroker(ctx) {
  const { default: amqp } = await import('amqplib');
  if (process.env.AMQP_URL && process.env.AMQP_URL !== 'none') return amqp.connect(process.env.AMQP_URL);
  const url = await targetUrl(ctx, 'rabbitmq');
  if (url && isLocal(url)) {
    const broker = processListeningOn(Number(url.port));
    for (const port of broker?.ports.filter((other) => other !== Number(url.port)) ?? []) {
      try {
        return await amqp.connect(`amqp://127.0.0.1:${port}`, { timeout: 2000 });
      } catch {
        // not the AMQP port (Erlang distribution)
      }
    }
    throw new Error(`no AMQP port found beside the broker's metrics port ${url.port}: set AMQP_URL`);
  }
  const env = composeEnv();
  return amqp.connect(
    `amqp://${env.RABBITMQ_USER}:${env.RABBITMQ_PASSWORD}@127.0.0.1:${env.RABBITMQ_AMQP_HOST_PORT ?? 5672}`,
  );
}
