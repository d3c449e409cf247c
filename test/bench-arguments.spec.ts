import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '#lab/testing';

// npm run bench takes minutes and rewrites docs/performance.json: an argument or a BENCH_* value it cannot
// use must stop it at once (exit 2), before it builds, starts a lab or writes anything.
const bench = (script: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [join(repoRoot, 'scripts', script), ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });

describe('npm run bench and bench-store, given what they cannot use', () => {
  it('prints its usage for --help, and refuses an unknown argument or a BENCH_SECONDS that is not a count', () => {
    const results = statSync(join(repoRoot, 'docs/performance.json')).mtimeMs;
    const help = bench('bench.mjs', ['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('usage: npm run bench');
    const unknown = bench('bench.mjs', ['--fast']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('bench: unknown argument --fast');
    for (const seconds of ['abc', '-5', '0', '2.5']) {
      const bad = bench('bench.mjs', [], { BENCH_SECONDS: seconds });
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain(`BENCH_SECONDS="${seconds}" is not a whole number of at least 1`);
    }
    expect(statSync(join(repoRoot, 'docs/performance.json')).mtimeMs).toBe(results);
  });

  it('bench-store: the same for its options, BENCH_SECONDS and BENCH_ROUNDS', () => {
    expect(bench('bench-store.mjs', ['--help']).status).toBe(0);
    const unknown = bench('bench-store.mjs', ['--nope']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("bench-store: Unknown option '--nope'");
    expect(unknown.stderr).not.toMatch(/^\s+at /m);
    const rounds = bench('bench-store.mjs', [], { BENCH_ROUNDS: 'many' });
    expect(rounds.status).toBe(2);
    expect(rounds.stderr).toContain('BENCH_ROUNDS="many" is not a whole number of at least 1');
  });
});
