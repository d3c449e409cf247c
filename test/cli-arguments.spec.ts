import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, repoRoot } from '#lab/testing';

// The scripts' own refusals: each exits at once with a line naming what it cannot use.
// npm run bench takes minutes and rewrites docs/performance.json: an argument or a BENCH_* value it cannot
// use must stop it at once (exit 2), before it builds, starts a lab or writes anything.
const script = (name: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [join(repoRoot, 'scripts', name), ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });

describe('npm run bench and bench-store, given what they cannot use', () => {
  it('prints its usage for --help, and refuses an unknown argument or a BENCH_SECONDS that is not a count', () => {
    const results = statSync(join(repoRoot, 'docs/performance.json')).mtimeMs;
    const help = script('bench.mjs', ['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('usage: npm run bench');
    const unknown = script('bench.mjs', ['--fast']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('bench: unknown argument --fast');
    for (const seconds of ['abc', '-5', '0', '2.5']) {
      const bad = script('bench.mjs', [], { BENCH_SECONDS: seconds });
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain(`BENCH_SECONDS="${seconds}" is not a whole number of at least 1`);
    }
    expect(statSync(join(repoRoot, 'docs/performance.json')).mtimeMs).toBe(results);
  });

  it('bench-store: the same for its options, BENCH_SECONDS and BENCH_ROUNDS', () => {
    expect(script('bench-store.mjs', ['--help']).status).toBe(0);
    const unknown = script('bench-store.mjs', ['--nope']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("bench-store: Unknown option '--nope'");
    expect(unknown.stderr).not.toMatch(/^\s+at /m);
    const rounds = script('bench-store.mjs', [], { BENCH_ROUNDS: 'many' });
    expect(rounds.status).toBe(2);
    expect(rounds.stderr).toContain('BENCH_ROUNDS="many" is not a whole number of at least 1');
  });
});

describe('npm run postman, given what it cannot use', () => {
  it('prints its usage, refuses an unknown option, an environment without baseUrl and a base URL that is not http(s)', () => {
    expect(script('postman.mjs', ['--help']).status).toBe(0);
    const option = script('postman.mjs', ['--verbose']);
    expect(option.status).toBe(2);
    expect(option.stderr).toContain('unknown option --verbose');
    const dir = mkdtempSync(join(tmpdir(), 'lab-postman-'));
    try {
      writeFileSync(join(dir, 'empty.postman_environment.json'), JSON.stringify({ values: [] }));
      const noBase = script('postman.mjs', [join(dir, 'empty.postman_environment.json')]);
      expect(noBase.status).toBe(2);
      expect(noBase.stderr).toContain('has no baseUrl');
    } finally {
      rmSync(dir, { recursive: true });
    }
    const scheme = script('postman.mjs', [], { POSTMAN_BASE_URL: 'localhost:3000' });
    expect(scheme.status).toBe(2);
    expect(scheme.stderr).toContain('baseUrl "localhost:3000" (POSTMAN_BASE_URL) is not an http(s) address');
  });

  it('says in one line that the gateway cannot be reached, instead of every request of the collection failing', async () => {
    const port = await freePort();
    const down = script('postman.mjs', [], { POSTMAN_BASE_URL: `http://127.0.0.1:${port}` });
    expect(down.status).toBe(1);
    expect(down.stderr.trim().split('\n')).toEqual([
      expect.stringContaining(
        `cannot reach the gateway at http://127.0.0.1:${port} (ECONNREFUSED): is the lab running?`,
      ),
    ]);
    expect(down.stdout).toBe('');
  });
});

describe('npm start, asked for help or given an option it does not have', () => {
  it('answers before building anything: usage (exit 0), unknown option (exit 2)', () => {
    const help = script('start.mjs', ['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('usage: npm start [-- <service>...]');
    expect(help.stdout).not.toContain('compiled'); // the build's line
    const option = script('start.mjs', ['--verbose']);
    expect(option.status).toBe(2);
    expect(option.stderr).toContain('unknown option --verbose');
    expect(option.stdout).toBe('');
  });
});
