// Runs a program that cannot watch its parent (Prometheus, Alertmanager: Go binaries) so that it goes
// when whoever started it goes, as `npm start`'s other children do. The program runs in a process group
// of its own; this small process stops it (SIGTERM to the group, SIGKILL after --stop-timeout-ms) on
// SIGTERM/SIGINT/SIGHUP, or, with --exit-with-parent, when its stdin ends: the launcher holds the other end
// of that pipe and never writes, so the kernel closes it when the launcher dies, even by SIGKILL.
// It exits with the program's exit code once the whole group is gone.
//
//   node scripts/child-guard.mjs [--exit-with-parent] [--stop-timeout-ms N] -- COMMAND [ARGS...]
//
// The program's output passes through unchanged. scripts/rabbitmq-child.mjs uses the same helpers for the
// broker (an Erlang VM and the start script that runs it).
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

/** Calls `gone` once when stdin ends or fails: the process holding its other end is gone. */
export function onParentGone(gone) {
  // Nobody reads our output then either: a failed write (EPIPE) must not end us before the program stops.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  let called = false;
  const once = () => {
    if (called) return;
    called = true;
    gone();
  };
  process.stdin.once('end', once).once('error', once).resume();
}

/** Sends `signal` to the process group led by `pid`; false when no such group is left. */
export function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Whether any process of the group led by `pid` is alive. */
export function groupAlive(pid) {
  return signalGroup(pid, 0);
}

/** Resolves once the group led by `pid` is gone, SIGKILLing it after `timeoutMs`. */
export async function waitGroupGone(pid, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (groupAlive(pid) && Date.now() < deadline) await new Promise((done) => setTimeout(done, 50));
  if (groupAlive(pid)) {
    signalGroup(pid, 'SIGKILL');
    while (groupAlive(pid)) await new Promise((done) => setTimeout(done, 20));
  }
}

async function main(argv) {
  const split = argv.indexOf('--');
  const own = split < 0 ? [] : argv.slice(0, split);
  const [command, ...args] = split < 0 ? [] : argv.slice(split + 1);
  const timeoutAt = own.indexOf('--stop-timeout-ms');
  const stopTimeoutMs = timeoutAt < 0 ? 10_000 : Number(own[timeoutAt + 1]);
  if (!command || !Number.isFinite(stopTimeoutMs)) {
    console.error(
      'usage: node scripts/child-guard.mjs [--exit-with-parent] [--stop-timeout-ms N] -- COMMAND [ARGS...]',
    );
    process.exit(2);
  }
  const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'], detached: true });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    signalGroup(child.pid, 'SIGTERM');
    setTimeout(() => signalGroup(child.pid, 'SIGKILL'), stopTimeoutMs).unref();
  };
  child.once('error', (error) => {
    console.error(`${command}: ${error.message}`);
    process.exit(127);
  });
  child.once('exit', async (code, signal) => {
    // Anything it started in its group goes too.
    signalGroup(child.pid, 'SIGTERM');
    await waitGroupGone(child.pid, stopTimeoutMs);
    // Ended by a signal: 0 when we asked for it, else the shell's 128 + its number.
    process.exit(code ?? (stopping ? 0 : 128 + (constants.signals[signal] ?? 0)));
  });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, stop);
  if (own.includes('--exit-with-parent')) onParentGone(stop);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));
