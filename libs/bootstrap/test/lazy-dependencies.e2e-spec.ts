import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '#lab/testing';

// Runs against dist/ in a process of its own: the hooks are Node's module loader's, as in a service.
// Where the packages really are (a worktree may link node_modules from another checkout).
const NODE_MODULES = realpathSync(join(repoRoot, 'node_modules'));
const LAZY_DEPENDENCIES = pathToFileURL(join(repoRoot, 'dist/libs/bootstrap/src/lazy-dependencies.js')).href;
const INPUTS = ['user', 'I\u00ADX', '\u00AA', '\u2168', 'p\u00E4ss w\u00F6rd', '\u0007', '\u0627\u0031'];

/**
 * Runs `body` (an ES module's code, `require` resolving from the repository's root) in a Node process of its
 * own after lazy-dependencies.js, as a service does; its answer is the JSON it prints last.
 */
function runAfterLazyDependencies<T>(body: string, { withoutRegisterHooks = false } = {}): T {
  // A Node before 22.15 (the Docker image's 22.12) has no module.registerHooks.
  const olderNode = withoutRegisterHooks
    ? `import * as nodeModule from 'node:module';
       delete nodeModule.default.registerHooks;
       nodeModule.syncBuiltinESMExports();`
    : '';
  const script = `
    import { createRequire } from 'node:module';
    ${olderNode}
    await import(${JSON.stringify(LAZY_DEPENDENCIES)});
    const require = createRequire(${JSON.stringify(join(repoRoot, 'package.json'))});
    ${body}`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  expect(child.stderr).toBe('');
  return JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '') as T;
}

interface SaslprepRun {
  loadedWithDriver: string[];
  loadedAfterCall: string[];
  results: string[];
}

/** Loads the MongoDB driver after lazy-dependencies.js, then calls saslprep through the driver's require. */
function run({ withoutRegisterHooks = false, esmImportFirst = false } = {}): SaslprepRun {
  return runAfterLazyDependencies<SaslprepRun>(
    `const saslprepFiles = () => Object.keys(require.cache).filter((file) => file.includes('/@mongodb-js/saslprep/'));
    require('mongodb');
    const loadedWithDriver = saslprepFiles();
    ${esmImportFirst ? "await import('@mongodb-js/saslprep');" : ''}
    const { saslprep } = createRequire(require.resolve('mongodb/lib/cmap/auth/scram.js'))('@mongodb-js/saslprep');
    const results = ${JSON.stringify(INPUTS)}.map((input) => {
      try { return saslprep(input); } catch (error) { return 'throws ' + error.message; }
    });
    console.log(JSON.stringify({ loadedWithDriver, loadedAfterCall: saslprepFiles(), results }));`,
    { withoutRegisterHooks },
  );
}

describe('lazy dependencies', () => {
  it('loads the MongoDB driver without @mongodb-js/saslprep, and saslprep on its first call', () => {
    const { loadedWithDriver, loadedAfterCall } = run();
    expect(loadedWithDriver).toEqual([]);
    expect(loadedAfterCall).toContain(join(NODE_MODULES, '@mongodb-js/saslprep/dist/node.js'));
  });

  it('loads on a Node without module.registerHooks (before 22.15), saslprep then with the driver as before', () => {
    const { loadedWithDriver, results } = run({ withoutRegisterHooks: true });
    expect(loadedWithDriver).toContain(join(NODE_MODULES, '@mongodb-js/saslprep/dist/node.js'));
    expect(results).toEqual(run().results);
  });

  it('answers the same after something imported @mongodb-js/saslprep as an ES module', () => {
    expect(run({ esmImportFirst: true }).results).toEqual(run().results);
  });

  it("answers through the driver's require exactly as @mongodb-js/saslprep does, errors included", async () => {
    const { saslprep } = (await import('@mongodb-js/saslprep')).default;
    const expected = INPUTS.map((input) => {
      try {
        return saslprep(input);
      } catch (error) {
        return `throws ${(error as Error).message}`;
      }
    });
    expect(expected.filter((result) => result.startsWith('throws')).length).toBeGreaterThan(0);
    expect(run().results).toEqual(expected);
  });
});

const DATABASE_LIB = pathToFileURL(join(repoRoot, 'dist/libs/database/src/index.js')).href;
/** Every type TypeORM's DriverFactory creates a driver for. */
const TYPEORM_TYPES = [
  'aurora-mysql',
  'aurora-postgres',
  'better-sqlite3',
  'capacitor',
  'cockroachdb',
  'cordova',
  'expo',
  'mariadb',
  'mongodb',
  'mssql',
  'mysql',
  'nativescript',
  'oracle',
  'postgres',
  'react-native',
  'sap',
  'spanner',
  'sqljs',
];

interface TypeormRun {
  loadedWithDatabase: string[];
  loadedAfterCreate: string[];
  created: Record<string, string>;
}

/** Loads the database lib after lazy-dependencies.js (as a service does), then makes a DataSource of each type. */
function runTypeorm({ withoutRegisterHooks = false } = {}): TypeormRun {
  return runAfterLazyDependencies<TypeormRun>(
    `await import(${JSON.stringify(DATABASE_LIB)});
    const otherDrivers = () => Object.keys(require.cache).filter((file) =>
      /[/]typeorm[/]driver[/](?!mongodb[/])[^/]+[/]\\w+(Driver|QueryRunner)[.]js$/.test(file));
    const loadedWithDatabase = otherDrivers();
    const { DataSource } = require('typeorm');
    console.error = () => {}; // Spanner's driver logs the error it then throws
    const created = Object.fromEntries(${JSON.stringify(TYPEORM_TYPES)}.map((type) => {
      try { return [type, new DataSource({ type, database: 'lab' }).driver.constructor.name]; }
      catch (error) { return [type, error.constructor.name + ': ' + error.message]; }
    }));
    console.log(JSON.stringify({ loadedWithDatabase, loadedAfterCreate: otherDrivers(), created }));`,
    { withoutRegisterHooks },
  );
}

describe("lazy dependencies: TypeORM's drivers", () => {
  it("loads the database lib with TypeORM's MongoDB driver alone, without the 16 other databases' drivers", () => {
    expect(runTypeorm().loadedWithDatabase).toEqual([]);
    const withAll = runTypeorm({ withoutRegisterHooks: true }).loadedWithDatabase;
    expect(withAll).toContain(join(NODE_MODULES, 'typeorm/driver/sap/SapQueryRunner.js'));
    // The 16 other databases' drivers and the SQLite drivers' base class.
    expect(withAll.filter((file) => file.endsWith('Driver.js'))).toHaveLength(17);
  });

  it('creates a DataSource of every type as TypeORM does, loading the driver it asked for then', () => {
    const lazy = runTypeorm();
    expect(lazy.created).toEqual(runTypeorm({ withoutRegisterHooks: true }).created);
    expect(lazy.created.mongodb).toBe('MongoDriver');
    expect(lazy.created.postgres).toMatch(/^DriverPackageNotInstalledError: Postgres package/);
    expect(lazy.loadedAfterCreate).toContain(join(NODE_MODULES, 'typeorm/driver/postgres/PostgresDriver.js'));
  });
});

/** Numbers and the region each is checked for (none: the number's own calling code decides). */
const PHONE_NUMBERS: [string, string | null][] = [
  ['+41 44 668 18 00', null],
  ['+41 44 668 18 00', 'CH'],
  ['+41 44 668 18 00', 'DE'],
  ['044 668 18 00', 'CH'],
  ['+1 202 555 0100', null],
  ['+49 30 901820', null],
  ['+49 30 901820', 'US'],
  ['+1 999', null],
  ['phone', null],
  [' +41446681800', null],
];

interface PhoneRun {
  loadedWithValidator: string[];
  loadedAfterCheck: string[];
  results: boolean[];
}

/** Loads class-validator after lazy-dependencies.js, then checks phone numbers with `isPhoneNumber`. */
function runPhone({ withoutRegisterHooks = false } = {}): PhoneRun {
  return runAfterLazyDependencies<PhoneRun>(
    `const phoneFiles = () => Object.keys(require.cache).filter((file) => file.includes('/node_modules/libphonenumber-js/'));
    const { isPhoneNumber } = require('class-validator');
    const loadedWithValidator = phoneFiles();
    const results = ${JSON.stringify(PHONE_NUMBERS)}.map(([number, region]) => isPhoneNumber(number, region ?? undefined));
    console.log(JSON.stringify({ loadedWithValidator, loadedAfterCheck: phoneFiles(), results }));`,
    { withoutRegisterHooks },
  );
}

describe('lazy dependencies: libphonenumber-js', () => {
  it('loads class-validator without libphonenumber-js, and it on the first phone number checked', () => {
    const { loadedWithValidator, loadedAfterCheck } = runPhone();
    expect(loadedWithValidator).toEqual([]);
    expect(runPhone({ withoutRegisterHooks: true }).loadedWithValidator).toContain(
      join(NODE_MODULES, 'libphonenumber-js/max/index.cjs'),
    );
    expect(loadedAfterCheck).toContain(join(NODE_MODULES, 'libphonenumber-js/max/index.cjs'));
  });

  it("checks phone numbers with class-validator's isPhoneNumber exactly as with libphonenumber-js loaded", () => {
    const { results } = runPhone({ withoutRegisterHooks: true });
    expect(results).toContain(true);
    expect(results).toContain(false);
    expect(runPhone().results).toEqual(results);
  });
});

interface HostMetricsRun {
  loadedWithNestjsOtel: string[];
  loadedAfterStart: string[];
  sameClass: boolean;
  metricNames: string[];
}

/**
 * Loads nestjs-otel after lazy-dependencies.js, then starts host metrics through its core module (as an
 * `OpenTelemetryModule` with `metrics.hostMetrics` would) and collects what they observe once.
 */
function runHostMetrics({ withoutRegisterHooks = false } = {}): HostMetricsRun {
  return runAfterLazyDependencies<HostMetricsRun>(
    `const hostFiles = () => Object.keys(require.cache).filter((file) =>
      /[/]node_modules[/](@opentelemetry[/]host-metrics|systeminformation)[/]/.test(file));
    require('nestjs-otel');
    const loadedWithNestjsOtel = hostFiles();
    const { metrics } = require('@opentelemetry/api');
    const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
    class Reader extends MetricReader { async onForceFlush() {} async onShutdown() {} }
    const reader = new Reader();
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
    const core = require.resolve('nestjs-otel/lib/opentelemetry-core.module.js');
    const { OpenTelemetryCoreModule } = require(core);
    await new OpenTelemetryCoreModule({ metrics: { hostMetrics: true } }).onApplicationBootstrap();
    const { resourceMetrics } = await reader.collect();
    const metricNames = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics.map((metric) => metric.descriptor.name)).sort();
    const sameClass = createRequire(core)('@opentelemetry/host-metrics').HostMetrics === require('@opentelemetry/host-metrics').HostMetrics;
    console.log(JSON.stringify({ loadedWithNestjsOtel, loadedAfterStart: hostFiles(), sameClass, metricNames }));`,
    { withoutRegisterHooks },
  );
}

describe('lazy dependencies: @opentelemetry/host-metrics', () => {
  it('loads nestjs-otel without @opentelemetry/host-metrics and systeminformation, and them when host metrics start', () => {
    const lazy = runHostMetrics();
    expect(lazy.loadedWithNestjsOtel).toEqual([]);
    expect(runHostMetrics({ withoutRegisterHooks: true }).loadedWithNestjsOtel).toContain(
      join(NODE_MODULES, '@opentelemetry/host-metrics/build/src/index.js'),
    );
    expect(lazy.loadedAfterStart).toContain(
      join(NODE_MODULES, '@opentelemetry/host-metrics/build/src/index.js'),
    );
  });

  it('gives nestjs-otel the real HostMetrics, which observes what it does with the module loaded', () => {
    const lazy = runHostMetrics();
    expect(lazy.sameClass).toBe(true);
    expect(lazy.metricNames).toContain('process.memory.usage');
    expect(lazy.metricNames).toEqual(runHostMetrics({ withoutRegisterHooks: true }).metricNames);
  });
});

const NAMESPACES = ['winston:exception', 'winston:rejection', 'winston:create-logger', 'lab', ''];

interface ColorspaceRun {
  loadedWithWinston: string[];
  loadedAfterColour: string[];
  colours: string[];
}

/**
 * Loads winston after lazy-dependencies.js with `@dabh/diagnostics`' development build (as under `npm start`),
 * then asks for namespaces' colours through the require of its ANSI modifier.
 */
function runColorspace({ withoutRegisterHooks = false } = {}): ColorspaceRun {
  return runAfterLazyDependencies<ColorspaceRun>(
    `process.env.NODE_ENV = 'development';
    const colorspaceFiles = () => Object.keys(require.cache).filter((file) => file.includes('/node_modules/@so-ric/colorspace/'));
    require('winston');
    const loadedWithWinston = colorspaceFiles();
    const colorspace = createRequire(require.resolve('@dabh/diagnostics/modifiers/namespace-ansi.js'))('@so-ric/colorspace');
    const colours = ${JSON.stringify(NAMESPACES)}.flatMap((namespace) => [colorspace(namespace), colorspace(namespace, ':')]);
    console.log(JSON.stringify({ loadedWithWinston, loadedAfterColour: colorspaceFiles(), colours }));`,
    { withoutRegisterHooks },
  );
}

describe('lazy dependencies: @so-ric/colorspace', () => {
  it("loads winston's development diagnostics without @so-ric/colorspace, and it on the first colour asked", () => {
    const { loadedWithWinston, loadedAfterColour } = runColorspace();
    expect(loadedWithWinston).toEqual([]);
    expect(runColorspace({ withoutRegisterHooks: true }).loadedWithWinston).toContain(
      join(NODE_MODULES, '@so-ric/colorspace/dist/index.cjs.js'),
    );
    expect(loadedAfterColour).toContain(join(NODE_MODULES, '@so-ric/colorspace/dist/index.cjs.js'));
  });

  it('colours namespaces exactly as @so-ric/colorspace does', () => {
    const { colours } = runColorspace({ withoutRegisterHooks: true });
    expect(new Set(colours).size).toBeGreaterThan(1);
    expect(runColorspace().colours).toEqual(colours);
  });
});

interface FastifyRun {
  loadedWithInstance: string[];
  loadedAfterRoute: string[];
  answers: { statusCode: number; body: string }[];
}

/**
 * Creates a Fastify instance after lazy-dependencies.js (as Nest's adapter does), then a route with a body
 * schema to validate and a response schema to serialize by, and sends it valid and invalid bodies.
 */
function runFastify({ withoutRegisterHooks = false } = {}): FastifyRun {
  return runAfterLazyDependencies<FastifyRun>(
    `const compilerFiles = () => Object.keys(require.cache).filter((file) =>
      /[/]node_modules[/](ajv|ajv-formats|fast-uri|@fastify[/]ajv-compiler|@fastify[/]fast-json-stringify-compiler)[/]/.test(file));
    const app = require('fastify')();
    app.get('/plain', async () => ({ plain: true }));
    await app.ready();
    const loadedWithInstance = compilerFiles();
    const other = require('fastify')();
    other.post('/items', {
      schema: {
        body: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 2 }, count: { type: 'integer' } } },
        response: { 200: { type: 'object', properties: { name: { type: 'string' }, count: { type: 'integer' } } } },
      },
    }, async (request) => ({ ...request.body, secret: 'left out by the response schema' }));
    await other.ready();
    const bodies = [{ name: 'ab', count: '3' }, { name: 'a' }, { count: 1 }, 'not json', { name: 'ab', count: 'x' }];
    const answers = [];
    for (const body of bodies) {
      const reply = await other.inject({ method: 'POST', url: '/items', headers: { 'content-type': 'application/json' }, payload: typeof body === 'string' ? body : JSON.stringify(body) });
      answers.push({ statusCode: reply.statusCode, body: reply.body });
    }
    answers.push(await app.inject({ method: 'GET', url: '/plain' }).then((reply) => ({ statusCode: reply.statusCode, body: reply.body })));
    console.log(JSON.stringify({ loadedWithInstance, loadedAfterRoute: compilerFiles(), answers }));`,
    { withoutRegisterHooks },
  );
}

describe("lazy dependencies: Fastify's schema compilers", () => {
  it('creates a Fastify instance without Ajv and the compilers, and loads them for the first route with a schema', () => {
    const lazy = runFastify();
    expect(lazy.loadedWithInstance).toEqual([]);
    expect(runFastify({ withoutRegisterHooks: true }).loadedWithInstance).toContain(
      join(NODE_MODULES, 'ajv/dist/ajv.js'),
    );
    expect(lazy.loadedAfterRoute).toContain(join(NODE_MODULES, 'ajv/dist/ajv.js'));
    expect(lazy.loadedAfterRoute).toContain(
      join(NODE_MODULES, '@fastify/fast-json-stringify-compiler/index.js'),
    );
  });

  it('validates and serializes by schema exactly as with the compilers loaded', () => {
    const { answers } = runFastify({ withoutRegisterHooks: true });
    expect(answers.map((answer) => answer.statusCode)).toEqual([200, 400, 400, 400, 400, 200]);
    expect(answers[0]?.body).toBe('{"name":"ab","count":3}');
    expect(runFastify().answers).toEqual(answers);
  });
});
