import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '#lab/testing';

// Runs against dist/ in a process of its own: what a service's module loader loads, nothing of the test runner's.
const SERVICE_CLIENT = pathToFileURL(join(repoRoot, 'dist/libs/http-client/src/service-client.js')).href;

describe("the HTTP client's undici", () => {
  it("loads undici's agent alone, not the package's index (fetch, WebSocket, mocks), and dispatches through it", () => {
    const script = `
      import { createRequire } from 'node:module';
      import { createServer } from 'node:http';
      await import(${JSON.stringify(SERVICE_CLIENT)});
      const require = createRequire(${JSON.stringify(join(repoRoot, 'package.json'))});
      const undiciFiles = Object.keys(require.cache).filter((file) => file.includes('/node_modules/undici/'));
      const Agent = require('undici/lib/dispatcher/agent.js');
      const server = createServer((_request, response) => response.end('pong'));
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      const agent = new Agent();
      const body = await new Promise((resolve, reject) => {
        let text = '';
        agent.dispatch(
          { origin: 'http://127.0.0.1:' + server.address().port, path: '/', method: 'GET' },
          {
            onRequestStart() {},
            onResponseStart() {},
            onResponseData(_controller, chunk) { text += chunk; },
            onResponseEnd() { resolve(text); },
            onResponseError(_controller, error) { reject(error); },
          },
        );
      });
      await agent.close();
      server.close();
      console.log(JSON.stringify({
        index: undiciFiles.some((file) => file.endsWith('/undici/index.js')),
        agent: undiciFiles.some((file) => file.endsWith('/undici/lib/dispatcher/agent.js')),
        fetch: undiciFiles.some((file) => file.includes('/undici/lib/web/')),
        body,
      }));`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(child.stderr).toBe('');
    const loaded = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '') as Record<string, unknown>;
    expect(loaded).toEqual({ index: false, agent: true, fetch: false, body: 'pong' });
  });
});
