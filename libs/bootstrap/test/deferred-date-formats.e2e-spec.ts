import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '#lab/testing';

// Runs against dist/ in a process of its own: what a service loads, in the order it loads it.
const BOOTSTRAP = pathToFileURL(join(repoRoot, 'dist/libs/bootstrap/src/index.js')).href;

interface Loaded {
  /** Real DateTimeFormats built while the lab's bootstrap (and Nest with it) loaded. */
  builtWhileLoading: number;
  restored: boolean;
  /** Built once Nest's logger printed a timestamp. */
  builtAfterTimestamp: number;
  timestamp: string;
  /** What a DateTimeFormat with Nest's options prints, for the same instant. */
  expected: string;
  laterIsReal: boolean;
}

/** Loads the lab's bootstrap with every real `Intl.DateTimeFormat` construction counted. */
function load(): Loaded {
  const script = `
    const Real = Intl.DateTimeFormat;
    let built = 0;
    const counting = new Proxy(Real, { construct: (target, args, newTarget) => (built++, Reflect.construct(target, args, newTarget)) });
    Intl.DateTimeFormat = counting;
    await import(${JSON.stringify(BOOTSTRAP)});
    const { Logger } = await import('@nestjs/common');
    const builtWhileLoading = built;
    const restored = Intl.DateTimeFormat === counting;
    const now = Date.now();
    Date.now = () => now;
    const timestamp = Logger.getTimestamp();
    const builtAfterTimestamp = built;
    const options = { year: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', day: '2-digit', month: '2-digit' };
    const expected = new Real(undefined, options).format(now);
    const laterIsReal = new Intl.DateTimeFormat() instanceof Real;
    console.log(JSON.stringify({ builtWhileLoading, restored, builtAfterTimestamp, timestamp, expected, laterIsReal }));
    process.exit(0);`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  expect(child.stderr).toBe('');
  return JSON.parse(child.stdout) as Loaded;
}

describe('deferred date formats', () => {
  it("loads Nest without building its loggers' DateTimeFormats (ICU's data stays unmapped), and puts the real Intl.DateTimeFormat back", () => {
    const loaded = load();
    expect(loaded.builtWhileLoading).toBe(0);
    expect(loaded.restored).toBe(true);
    expect(loaded.laterIsReal).toBe(true);
  });

  it("prints Nest's console timestamp as before, building the real formatter on that first use", () => {
    const loaded = load();
    expect(loaded.builtAfterTimestamp).toBe(1);
    expect(loaded.timestamp).toBe(loaded.expected);
  });
});
