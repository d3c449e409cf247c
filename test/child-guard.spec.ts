import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { descendantsOf, isAlive, repoRoot } from '#lab/testing';

// scripts/child-guard.mjs: a program that cannot watch its parent (Prometheus, Alertmanager) goes when
// the guard is told to stop or when its parent goes (stdin closed), and the guard reports its exit code.

function guard(args: string[]) {
  const child = spawn(process.execPath, [join(repoRoot, 'scripts/child-guard.mjs'), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  /** The program's pid, once the guard has started it. */
  const program = async () => {
    await expect.poll(() => descendantsOf(child.pid ?? 0).length, { timeout: 10_000 }).toBeGreaterThan(0);
    return descendantsOf(child.pid ?? 0)[0];
  };
  return { child, exited, program, output: () => output };
}

describe('child-guard', () => {
  it('stops the program when its stdin ends (the launcher is gone), with --exit-with-parent', async () => {
    const guarded = guard(['--exit-with-parent', '--', 'sleep', '120']);
    const pid = await guarded.program();
    guarded.child.stdin.end();
    expect(await guarded.exited).toBe(0);
    expect(isAlive(pid)).toBe(false);
  });

  it('stops the program on SIGTERM, SIGKILLing it when it does not stop in time', async () => {
    const guarded = guard([
      '--stop-timeout-ms',
      '500',
      '--',
      'sh',
      '-c',
      'trap "" TERM; echo started; while :; do sleep 1; done',
    ]);
    const pid = await guarded.program();
    await expect.poll(() => guarded.output(), { timeout: 10_000 }).toContain('started');
    guarded.child.kill('SIGTERM');
    await guarded.exited;
    await expect.poll(() => isAlive(pid), { timeout: 10_000 }).toBe(false);
  });

  it("passes the program's output through and exits with its code", async () => {
    const guarded = guard(['--', 'sh', '-c', 'echo from the program; exit 3']);
    expect(await guarded.exited).toBe(3);
    expect(guarded.output()).toBe('from the program\n');
  });

  it('exits like a shell when the program is killed by a signal it was not asked to stop by', async () => {
    const guarded = guard(['--', 'sleep', '120']);
    process.kill(await guarded.program(), 'SIGINT');
    expect(await guarded.exited).toBe(130);
  });

  it('says how to use it without a command', async () => {
    const guarded = guard([]);
    expect(await guarded.exited).toBe(2);
    expect(guarded.output()).toContain('usage: node scripts/child-guard.mjs');
  });
});
