import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultState } from '#lab/faults';
import { repoRoot } from '#lab/testing';

// npm run chaos and npm run scenario read the settings npm start reads (.env.local, scripts/local-env.mjs):
// a user who changed ADMIN_CLIENT_SECRET there, as the README says, must not get 401s (five of which lock
// the admin-cli client out). The scripts run from a copy of the repository's scripts/ and scenarios/ with
// a .env.local of the spec's own, so the repository's root is never written.

/** What the fault switch answers for a service with no fault on. */
const NO_FAULT = new FaultState().snapshot();

/** A gateway that knows one admin-cli secret, and remembers every secret it was offered. */
async function standInGateway(secret: string) {
  const offered: string[] = [];
  const passwords: string[] = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const answer = (status: number, json: unknown) => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(json));
      };
      if (request.url === '/health/live') return answer(200, { status: 'ok' });
      // A gateway behind a base path, still starting.
      if (request.url === '/base/health/live') return answer(503, { status: 'starting' });
      if (request.method === 'POST' && request.url === '/api/oauth/token') {
        const form = new URLSearchParams(body);
        if (form.get('password')) passwords.push(form.get('password') ?? '');
        const given = form.get('client_secret') ?? '';
        if (form.get('grant_type') !== 'client_credentials') return answer(400, { error: 'invalid_grant' });
        offered.push(given);
        if (given !== secret) return answer(401, { error: 'invalid_client' });
        return answer(200, { access_token: `token-for-${secret}`, expires_in: 300 });
      }
      if (request.url === '/api/admin/faults/product') {
        if (request.headers.authorization !== `Bearer token-for-${secret}`) return answer(401, {});
        return answer(200, { service: 'product', faults: NO_FAULT });
      }
      answer(404, {});
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    secret,
    offered,
    passwords,
    server,
  };
}

async function run(script: string, args: string[], env: Record<string, string | undefined>) {
  const child = spawn(process.execPath, [script, ...args], {
    env: {
      ...process.env,
      // chaos keeps its token in the temp directory: the copy's (<copy>/scripts/x.mjs), removed with it.
      TMPDIR: join(script, '..', '..'),
      // What the scripts read, as the spec gives it: not from the shell that runs the tests.
      ...Object.fromEntries(
        [
          'ADMIN_CLIENT_SECRET',
          'GATEWAY_URL',
          'GATEWAY_PORT',
          'SCENARIOS_DIR',
          'PROMETHEUS_URL',
          'JAEGER_URL',
          'OAUTH_ADMIN_EMAIL',
          'OAUTH_ADMIN_PASSWORD',
          'LOGIN_MAX_FAILURES',
          'RATE_LIMIT_REQUESTS',
          'POSTMAN_BASE_URL',
          'POSTMAN_ENV',
          'HTTP_PROXY',
          'HTTPS_PROXY',
          'http_proxy',
          'https_proxy',
        ].map((name) => [name, undefined]),
      ),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  return { code, stdout, stderr };
}

describe('the settings of .env.local in npm run chaos and npm run scenario', () => {
  let copy: string;
  let gateway: Awaited<ReturnType<typeof standInGateway>>;
  const writeLocalEnv = (lines: string[]) => writeFileSync(join(copy, '.env.local'), `${lines.join('\n')}\n`);

  beforeAll(async () => {
    copy = mkdtempSync(join(tmpdir(), 'lab-local-env-'));
    cpSync(join(repoRoot, 'scripts'), join(copy, 'scripts'), { recursive: true });
    cpSync(join(repoRoot, 'scenarios'), join(copy, 'scenarios'), { recursive: true });
    cpSync(join(repoRoot, 'postman'), join(copy, 'postman'), { recursive: true });
    cpSync(join(repoRoot, 'infra/prometheus/rules'), join(copy, 'infra/prometheus/rules'), {
      recursive: true,
    });
    mkdirSync(join(copy, 'docs'));
    copyFileSync(join(repoRoot, 'docs/scenarios.md'), join(copy, 'docs/scenarios.md'));
    symlinkSync(join(repoRoot, 'node_modules'), join(copy, 'node_modules'));
    mkdirSync(join(copy, 'mine'));
    copyFileSync(join(repoRoot, 'scenarios/order-down.mjs'), join(copy, 'mine/order-down.mjs'));
    // A secret changed from the default: the token cache of an earlier run cannot answer for it.
    gateway = await standInGateway(`changed-${process.pid}-${Date.now()}`);
  });

  afterAll(() => {
    gateway?.server.close();
    rmSync(copy, { recursive: true, force: true });
  });

  it('npm run chaos uses the admin-cli secret and the gateway of .env.local', async () => {
    writeLocalEnv([`GATEWAY_URL=${gateway.url}`, `ADMIN_CLIENT_SECRET=${gateway.secret}`]);
    const status = await run(join(copy, 'scripts/chaos.mjs'), ['product', 'status'], {});
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/product: no fault injected/);
    expect(gateway.offered).toEqual([gateway.secret]);
  });

  it('lets the environment win over .env.local, and names where the secret is read when it is refused', async () => {
    writeLocalEnv([`GATEWAY_URL=${gateway.url}`, `ADMIN_CLIENT_SECRET=${gateway.secret}`]);
    const refused = await run(join(copy, 'scripts/chaos.mjs'), ['product', 'status'], {
      ADMIN_CLIENT_SECRET: 'from-the-shell',
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('check ADMIN_CLIENT_SECRET (the environment, then .env.local');
    expect(gateway.offered.at(-1)).toBe('from-the-shell');
  });

  it('npm run scenario reads .env.local too', async () => {
    writeLocalEnv([`SCENARIOS_DIR=${join(copy, 'mine')}`]);
    const listed = await run(join(copy, 'scripts/scenario.mjs'), ['--list'], {});
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain('order-down');
    expect(listed.stdout).not.toContain('slow-product');
    // docs/scenarios.md documents the repository's definitions, whatever SCENARIOS_DIR says.
    const docs = await run(join(copy, 'scripts/scenario.mjs'), ['--docs', '--check'], {
      SCENARIOS_DIR: join(copy, 'nowhere'),
    });
    expect(docs.stderr).toBe('');
    expect(docs.code).toBe(0);
    // Listing needs none of the lab's addresses.
    const jaeger = await run(join(copy, 'scripts/scenario.mjs'), ['--list'], {
      JAEGER_URL: 'localhost:16686',
    });
    expect(jaeger.code).toBe(0);
  });

  it('npm run postman gives Newman the gateway, the admin and the limits of .env.local for the local environment', async () => {
    // Newman itself is a stand-in here that writes down what it was given (test/postman.e2e-spec.ts runs
    // the real one): a copy of postman.mjs beside it.
    const dir = join(copy, 'postman-run');
    cpSync(join(copy, 'scripts'), join(dir, 'scripts'), { recursive: true });
    cpSync(join(copy, 'postman'), join(dir, 'postman'), { recursive: true });
    mkdirSync(join(dir, 'node_modules/newman'), { recursive: true });
    writeFileSync(
      join(dir, 'node_modules/newman/index.js'),
      `module.exports.run = (options, done) => {
         require('node:fs').writeFileSync(${JSON.stringify(join(dir, 'given.json'))}, JSON.stringify(options));
         done(null, { run: { failures: [] } });
       };`,
    );
    writeFileSync(
      join(dir, '.env.local'),
      [
        `GATEWAY_URL=${gateway.url}`,
        'OAUTH_ADMIN_PASSWORD=changed-admin-password',
        `ADMIN_CLIENT_SECRET=${gateway.secret}`,
        'RATE_LIMIT_REQUESTS=3',
      ].join('\n'),
    );
    const given = async (env: Record<string, string | undefined> = {}, args: string[] = []) => {
      const result = await run(join(dir, 'scripts/postman.mjs'), args, env);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      return JSON.parse(readFileSync(join(dir, 'given.json'), 'utf8')) as { envVar: unknown[] };
    };
    expect((await given()).envVar).toEqual([
      { key: 'baseUrl', value: gateway.url },
      { key: 'adminPassword', value: 'changed-admin-password' },
      { key: 'adminClientSecret', value: gateway.secret },
      { key: 'rateLimitRequests', value: '3' },
    ]);
    // A trailing slash is not kept (the collection's paths start with one: //api/... is a 404), and a
    // gateway port alone is enough.
    writeFileSync(join(dir, '.env.local'), `GATEWAY_URL=${gateway.url}/\n`);
    expect((await given()).envVar).toEqual([{ key: 'baseUrl', value: gateway.url }]);
    const port = new URL(gateway.url).port;
    writeFileSync(join(dir, '.env.local'), `GATEWAY_PORT=${port}\n`);
    expect((await given()).envVar).toEqual([{ key: 'baseUrl', value: `http://localhost:${port}` }]);
    // Any answer is a gateway there (503 while it starts), under its base path.
    expect((await given({ POSTMAN_BASE_URL: `${gateway.url}/base/` })).envVar).toEqual([
      { key: 'baseUrl', value: `${gateway.url}/base` },
    ]);
    // The environment wins over the file, POSTMAN_BASE_URL over both for the gateway.
    expect(
      (await given({ OAUTH_ADMIN_PASSWORD: 'from-the-shell', POSTMAN_BASE_URL: gateway.url })).envVar,
    ).toEqual(
      expect.arrayContaining([
        { key: 'adminPassword', value: 'from-the-shell' },
        { key: 'baseUrl', value: gateway.url },
      ]),
    );
    // Another environment (Compose's) is used as written, but for POSTMAN_BASE_URL.
    const compose = join(dir, 'postman/compose.postman_environment.json');
    expect((await given({ POSTMAN_BASE_URL: gateway.url }, [compose])).envVar).toEqual([
      { key: 'baseUrl', value: gateway.url },
    ]);
  });

  it('names a setting it cannot use, and exits 2 without a stack trace', async () => {
    const chaos = (env: Record<string, string | undefined> = {}, args = ['product', 'status']) =>
      run(join(copy, 'scripts/chaos.mjs'), args, env);
    writeLocalEnv([]);
    const noScheme = await chaos({ GATEWAY_URL: 'localhost:3000' });
    expect(noScheme.code).toBe(2);
    expect(noScheme.stderr).toContain('GATEWAY_URL="localhost:3000" is not an http(s) address');
    const prometheus = await run(join(copy, 'scripts/scenario.mjs'), ['slow-product'], {
      PROMETHEUS_URL: '127.0.0.1:9090',
    });
    expect(prometheus.code).toBe(2);
    expect(prometheus.stderr).toContain('PROMETHEUS_URL="127.0.0.1:9090" is not an http(s) address');
    // Not the gateway: its token endpoint is not there (before, the 404 was blamed on the secret).
    const path = await chaos({ GATEWAY_URL: `${gateway.url}/api`, ADMIN_CLIENT_SECRET: gateway.secret });
    expect(path.code).toBe(1);
    expect(path.stderr).toContain("is GATEWAY_URL the gateway's address");

    rmSync(join(copy, '.env.local'));
    mkdirSync(join(copy, '.env.local'));
    try {
      for (const result of [
        await chaos(),
        await run(join(copy, 'scripts/scenario.mjs'), ['--list'], {}),
        await run(join(copy, 'scripts/postman.mjs'), [], {}),
        await run(join(copy, 'scripts/start.mjs'), [], {}), // before it builds anything
      ]) {
        expect(result.code).toBe(2);
        expect(result.stderr).toMatch(/\.env\.local is not a file: remove it/);
        expect(result.stderr).not.toMatch(/^\s+at /m);
      }
      expect((await chaos({}, ['--help'])).code).toBe(0);
    } finally {
      rmSync(join(copy, '.env.local'), { recursive: true });
    }
  });
});
