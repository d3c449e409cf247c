import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '#lab/testing';
import { describe, expect, it } from 'vitest';

const CLI = join(repoRoot, 'dist/libs/embedded-mongo/src/cli.js');

describe('the embedded store CLI, given a port it cannot use', () => {
  it('refuses a blank, scientific, hexadecimal or out-of-range port and an unknown option (exit 2, usage), instead of listening somewhere else', () => {
    for (const args of [
      ['--port='],
      ['--port', '1e3'],
      ['--port', '0x50'],
      ['--port', '70000'],
      ['--nope'],
    ]) {
      const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
      expect(result.status, args.join(' ')).toBe(2);
      expect(result.stderr).toContain('usage: node dist/libs/embedded-mongo/src/cli.js');
      expect(result.stdout).not.toContain('ready on');
    }
  });
});
