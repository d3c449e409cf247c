import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (libs/testing/src → ../../..), from sources or dist alike. */
export const repoRoot = join(
  dirname(fileURLToPath(import.meta.url)),
  ...(import.meta.url.includes('/dist/') ? ['..', '..', '..', '..'] : ['..', '..', '..']),
);

export interface RunningProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything printed so far on stdout and stderr, interleaved. */
  output(): string;
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code (or the signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  /** Signals the process (its whole group when started with `group: true`). */
  signal(signal: NodeJS.Signals): void;
}

export interface StartOptions {
  env?: Record<string, string | undefined>;
  /** Own process group, like a program started from a terminal: `signal` then reaches all of it. */
  group?: boolean;
  /** Under a shell that stays its parent, as `npm start` runs a script (instead of as a direct child). */
  underShell?: boolean;
}

/** Starts a Node script of the repository with this process's Node (22+). */
export function startNode(script: string, args: string[] = [], options: StartOptions = {}): RunningProcess {
  const command = [process.execPath, join(repoRoot, script), ...args];
  // `; exit $?` keeps the shell from exec-ing the command: it stays in between, as npm does.
  const [file, ...argv] = options.underShell ? ['/bin/sh', '-c', '"$0" "$@"; exit $?', ...command] : command;
  const child = spawn(file, argv, {
    cwd: repoRoot,
    // LOG_LEVEL: the test process itself runs at warn (vitest.config.ts); what it starts logs at info.
    env: { ...process.env, NO_COLOR: '1', LOG_LEVEL: 'info', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.group ?? false,
  });
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  return {
    child,
    pid: child.pid ?? -1,
    output: () => text,
    exited,
    signal(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(options.group ? -(child.pid ?? 0) : (child.pid ?? 0), signal);
    },
    waitForOutput(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(text);
          if (match) {
            cleanup();
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no output matching ${pattern} within ${timeoutMs} ms; output so far:\n${text}`));
        }, timeoutMs);
        const onExit = () => {
          check();
          cleanup();
          reject(new Error(`process exited before printing ${pattern}; output:\n${text}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('exit', onExit);
        };
        listeners.add(check);
        child.once('exit', onExit);
        check();
      });
    },
  };
}

const handedOut = new Set<number>();

/**
 * Vitest runs two spec files at once, each in a worker process of its own (`VITEST_POOL_ID` 1, 2, …): each
 * worker picks ports in a band of its own, below Linux's ephemeral range (32768-60999), so one worker
 * cannot be offered a port the other has handed out and its processes have not bound yet. Outside vitest
 * (the bench, scripts), or for a worker beyond the bands, the OS picks.
 */
// 17000-23999 holds none of the lab's default ports (RabbitMQ 15672/15692, Jaeger 16686, Fluentd 24220/24224,
// MongoDB 27017/27027), which a process started by the other worker could bind.
const PORT_BANDS = { first: 17_000, size: 3_500, count: 2 } as const;

/** The band of ports of this vitest worker: [from, to), or undefined outside vitest. */
export function portBand(poolId = process.env.VITEST_POOL_ID): [number, number] | undefined {
  const id = Number(poolId);
  if (!Number.isInteger(id) || id < 1 || id > PORT_BANDS.count) return undefined;
  const from = PORT_BANDS.first + (id - 1) * PORT_BANDS.size;
  return [from, from + PORT_BANDS.size];
}

/**
 * A TCP port on 127.0.0.1 nothing listens on now, and one this process has not handed out before: the ports of one lab
 * are picked before any of its processes binds, so the OS could otherwise offer the same one twice. In a
 * vitest worker, from its {@link portBand}.
 */
export async function freePort(): Promise<number> {
  const band = portBand();
  if (band) {
    const [from, to] = band;
    for (let attempt = 0; attempt < 200; attempt++) {
      const port = from + Math.floor(Math.random() * (to - from));
      if (handedOut.has(port) || !(await portIsFree(port))) continue;
      handedOut.add(port);
      return port;
    }
  }
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        const port = typeof address === 'object' && address ? address.port : 0;
        server.close(() => resolve(port));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

/** Whether a new listener can bind 127.0.0.1:`port` now (nothing holds it any more). */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Polls a URL until it answers with `status`; returns the last response body. */
export async function waitForHttp(url: string, status = 200, timeoutMs = 30_000): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      const body: unknown = await response.json().catch(() => undefined);
      if (response.status === status) return body;
      last = `status ${response.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
}

/** Every live descendant of a process (Linux /proc), to prove nothing is left behind. */
export function descendantsOf(rootPid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), ppid);
    } catch {
      // exited while we looked
    }
  }
  const found: number[] = [];
  const visit = (pid: number) => {
    for (const [child, parent] of parents) {
      if (parent === pid) {
        found.push(child);
        visit(child);
      }
    }
  };
  visit(rootPid);
  return found;
}

/** Whether a process still runs: an exited one its (adoptive) parent has not reaped yet (a zombie) does not. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false; // reaped while we looked
  }
}

/** SIGKILLs every pid still alive, so a failed case leaves nothing for the next one. */
export function killAll(pids: Iterable<number>): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}
