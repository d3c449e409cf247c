import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '#lab/testing';

// Runs against dist/ in a process of its own: the hooks are Node's module loader's, as in a service.
const LAZY_DEPENDENCIES = pathToFileURL(join(repoRoot, 'dist/libs/bootstrap/src/lazy-dependencies.js')).href;
const INPUTS = ['user', 'I\u00ADX', '\u00AA', '\u2168', 'p\u00E4ss w\u00F6rd', '\u0007', '\u0627\u0031'];

/** Loads the MongoDB driver after lazy-dependencies.js, then calls saslprep through the driver's require. */
function run({ withoutRegisterHooks = false, esmImportFirst = false } = {}): {
  loadedWithDriver: string[];
  loadedAfterCall: string[];
  results: string[];
} {
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
    const saslprepFiles = () => Object.keys(require.cache).filter((file) => file.includes('/@mongodb-js/saslprep/'));
    require('mongodb');
    const loadedWithDriver = saslprepFiles();
    ${esmImportFirst ? "await import('@mongodb-js/saslprep');" : ''}
    const { saslprep } = createRequire(require.resolve('mongodb/lib/cmap/auth/scram.js'))('@mongodb-js/saslprep');
    const results = ${JSON.stringify(INPUTS)}.map((input) => {
      try { return saslprep(input); } catch (error) { return 'throws ' + error.message; }
    });
    console.log(JSON.stringify({ loadedWithDriver, loadedAfterCall: saslprepFiles(), results }));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  expect(child.stderr).toBe('');
  return JSON.parse(child.stdout) as ReturnType<typeof run>;
}

describe('lazy dependencies', () => {
  it('loads the MongoDB driver without @mongodb-js/saslprep, and saslprep on its first call', () => {
    const { loadedWithDriver, loadedAfterCall } = run();
    expect(loadedWithDriver).toEqual([]);
    expect(loadedAfterCall).toContain(join(repoRoot, 'node_modules/@mongodb-js/saslprep/dist/node.js'));
  });

  it('loads on a Node without module.registerHooks (before 22.15), saslprep then with the driver as before', () => {
    const { loadedWithDriver, results } = run({ withoutRegisterHooks: true });
    expect(loadedWithDriver).toContain(join(repoRoot, 'node_modules/@mongodb-js/saslprep/dist/node.js'));
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

/** Loads the database lib after lazy-dependencies.js (as a service does), then makes a DataSource of each type. */
function runTypeorm({ withoutRegisterHooks = false } = {}): {
  loadedWithDatabase: string[];
  loadedAfterCreate: string[];
  created: Record<string, string>;
} {
  const olderNode = withoutRegisterHooks
    ? `import * as nodeModule from 'node:module';
       delete nodeModule.default.registerHooks;
       nodeModule.syncBuiltinESMExports();`
    : '';
  const script = `
    import { createRequire } from 'node:module';
    ${olderNode}
    await import(${JSON.stringify(LAZY_DEPENDENCIES)});
    await import(${JSON.stringify(DATABASE_LIB)});
    const require = createRequire(${JSON.stringify(join(repoRoot, 'package.json'))});
    const otherDrivers = () => Object.keys(require.cache).filter((file) =>
      /[/]typeorm[/]driver[/](?!mongodb[/])[^/]+[/]\\w+(Driver|QueryRunner)[.]js$/.test(file));
    const loadedWithDatabase = otherDrivers();
    const { DataSource } = require('typeorm');
    const created = Object.fromEntries(${JSON.stringify(TYPEORM_TYPES)}.map((type) => {
      try { return [type, new DataSource({ type, database: 'lab' }).driver.constructor.name]; }
      catch (error) { return [type, error.constructor.name + ': ' + error.message]; }
    }));
    // Spanner's driver logs its missing package to stdout: the answer is the last line.
    console.log('\\n' + JSON.stringify({ loadedWithDatabase, loadedAfterCreate: otherDrivers(), created }));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  expect(child.status, child.stderr).toBe(0);
  return JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '') as ReturnType<typeof runTypeorm>;
}

describe("lazy dependencies: TypeORM's drivers", () => {
  it("loads the database lib with TypeORM's MongoDB driver alone, without the 16 other databases' drivers", () => {
    expect(runTypeorm().loadedWithDatabase).toEqual([]);
    const withAll = runTypeorm({ withoutRegisterHooks: true }).loadedWithDatabase;
    expect(withAll).toContain(join(repoRoot, 'node_modules/typeorm/driver/sap/SapQueryRunner.js'));
    // The 16 other databases' drivers and the SQLite drivers' base class.
    expect(withAll.filter((file) => file.endsWith('Driver.js'))).toHaveLength(17);
  });

  it('creates a DataSource of every type as TypeORM does, loading the driver it asked for then', () => {
    const lazy = runTypeorm();
    expect(lazy.created).toEqual(runTypeorm({ withoutRegisterHooks: true }).created);
    expect(lazy.created.mongodb).toBe('MongoDriver');
    expect(lazy.created.postgres).toMatch(/^DriverPackageNotInstalledError: Postgres package/);
    expect(lazy.loadedAfterCreate).toContain(
      join(repoRoot, 'node_modules/typeorm/driver/postgres/PostgresDriver.js'),
    );
  });
});
