// The README and docs/ stay true to the code: every link, file, npm script, gateway route,
// variable and local URL they name exists. Static checks, no process started.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { gatewayRoutes } from '../apps/gateway/src/openapi/route-table.js';
import { CONFIG_VARIABLES } from '#lab/config';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

const DOCS = [
  'README.md',
  'infra/README.md',
  'postman/README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((file) => file.endsWith('.md'))
    .map((file) => `docs/${file}`),
  ...readdirSync(join(root, 'libs'))
    .map((lib) => `libs/${lib}/README.md`)
    .filter((path) => existsSync(join(root, path))),
];

/** Prose and code blocks alike: commands in code blocks must be true too. */
const text = new Map(DOCS.map((path) => [path, read(path)]));

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) inFence = !inFence;
    const heading = !inFence && /^#{1,6}\s+(.*)$/.exec(line);
    if (!heading) continue;
    const base = heading[1]
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Every `x` in backticks, outside fenced blocks too (inline code only). */
const inlineCode = (markdown: string) => [...markdown.matchAll(/`([^`\n]+)`/g)].map((match) => match[1]);

/** Every file of the repository that is code or configuration, to look names up in. */
function sourceText(): string {
  const parts: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path);
      else if (
        /\.(ts|mjs|json|ya?ml|conf|sh|ndjson)$|Dockerfile$|^\.env/.test(entry.name) &&
        statSync(join(root, path)).size < 2_000_000
      )
        parts.push(readFileSync(join(root, path), 'utf8'));
    }
  };
  for (const dir of ['apps', 'libs', 'scripts', 'infra', 'postman', 'test']) walk(dir);
  for (const file of [
    'package.json',
    'eslint.config.js',
    'docker-compose.yml',
    'docker-compose.light.yml',
    'Dockerfile',
    '.env',
    '.env.example',
  ])
    parts.push(read(file));
  return parts.join('\n');
}

describe('README and docs/', () => {
  it('link only to files and headings that exist', () => {
    const broken: string[] = [];
    for (const [path, markdown] of text) {
      for (const [, target] of markdown.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target)) continue;
        const [file, anchor] = target.split('#');
        const resolved = file ? resolve(dirname(join(root, path)), file) : join(root, path);
        if (!existsSync(resolved)) {
          broken.push(`${path}: ${target} (no such file)`);
          continue;
        }
        if (anchor && resolved.endsWith('.md') && !anchorsOf(readFileSync(resolved, 'utf8')).has(anchor))
          broken.push(`${path}: ${target} (no such heading in ${relative(root, resolved)})`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('name only files and folders of the repository that exist', () => {
    const missing: string[] = [];
    for (const [path, markdown] of text) {
      for (const code of inlineCode(markdown)) {
        const candidate = /^((?:apps|libs|scripts|infra|postman|docs|test)\/[\w./-]*)$/.exec(code)?.[1];
        if (candidate && !existsSync(join(root, candidate))) missing.push(`${path}: ${candidate}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('run only npm scripts that package.json has', () => {
    const scripts = Object.keys(
      (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts,
    );
    const unknown: string[] = [];
    for (const [path, markdown] of text) {
      for (const [, name] of markdown.matchAll(/\bnpm run ([\w:-]+)/g))
        if (!scripts.includes(name)) unknown.push(`${path}: npm run ${name}`);
      for (const [, name] of markdown.matchAll(/\bnpm (start|test)\b/g))
        if (!scripts.includes(name)) unknown.push(`${path}: npm ${name}`);
    }
    expect(unknown).toEqual([]);
  });

  it('document only routes the gateway has', () => {
    const routes = gatewayRoutes();
    expect(routes.length).toBeGreaterThan(10);
    const documented: string[] = [];
    const unrouted: string[] = [];
    for (const [path, markdown] of text) {
      for (const [, method, route] of markdown.matchAll(
        /\b(GET|POST|PUT|PATCH|DELETE) (\/(?:api|\.well-known)\/[^\s`|?)<]*)/g,
      )) {
        documented.push(`${method} ${route}`);
        const concrete = route.replace(/:\w+/g, 'x').replace(/\/$/, '');
        if (!routes.some((r) => (r.method === 'ALL' || r.method === method) && r.pattern.test(concrete)))
          unrouted.push(`${path}: ${method} ${route}`);
      }
    }
    expect(documented.length).toBeGreaterThan(20);
    expect(unrouted).toEqual([]);
  });

  it('name only variables and constants that the code or configuration uses', () => {
    const source = sourceText();
    const known = new Set<string>(CONFIG_VARIABLES);
    const unknown: string[] = [];
    for (const [path, markdown] of text) {
      for (const code of inlineCode(markdown)) {
        for (const [name] of code.matchAll(/\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b/g)) {
          // OTEL_* are the OpenTelemetry SDK's own variables, read by the SDK itself.
          if (known.has(name) || name.startsWith('OTEL_') || source.includes(name)) continue;
          unknown.push(`${path}: ${name}`);
        }
      }
    }
    expect(unknown).toEqual([]);
  });

  it('point local URLs at ports the lab listens on or the Compose stack publishes', () => {
    const env = Object.fromEntries(
      read('.env')
        .split('\n')
        .map((line) => /^([A-Z0-9_]+)=(.*)$/.exec(line.trim()))
        .filter((match) => match !== null)
        .map((match) => [match[1], match[2]]),
    );
    const compose = parse(read('docker-compose.yml')) as { services: Record<string, { ports?: string[] }> };
    const published = new Set<string>();
    for (const service of Object.values(compose.services)) {
      for (const port of service.ports ?? []) {
        const expanded = port.replace(
          /\$\{(\w+)(?::?-([^}]*))?\}/g,
          (_, name: string, fallback?: string) => env[name] ?? fallback ?? '',
        );
        published.add(expanded.split(':').at(-2) ?? '');
      }
    }
    // npm start: the services, the store, and Prometheus, Alertmanager and the alert-webhook when installed.
    const local = new Set(['3000', '3001', '3002', '3003', '3004', '27027', '9090', '9093', '9095']);
    const wrong: string[] = [];
    for (const [path, markdown] of text) {
      for (const [url, port] of markdown.matchAll(
        /\bhttps?:\/\/(?:localhost|127\.0\.0\.1):(\d+)[^\s`)|'"]*/g,
      )) {
        if (!published.has(port) && !local.has(port)) wrong.push(`${path}: ${url}`);
      }
    }
    expect(published.size).toBeGreaterThan(5);
    expect(wrong).toEqual([]);
  });
});
