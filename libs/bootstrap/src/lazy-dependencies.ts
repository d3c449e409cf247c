import { existsSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * Modules that a dependency requires when it loads but uses only on a path the lab never takes or most
 * labs never take, redirected to a stand-in that requires the real module on first use. Imported first by
 * this lib, before anything loads the MongoDB driver or TypeORM.
 *
 * `@mongodb-js/saslprep`: the driver's SCRAM module requires it at load time, and it builds its Unicode
 * tables at once (1.6 MB of heap, about 2 MB of RSS, in every service with a database); the driver
 * calls it only to authenticate with SCRAM-SHA-256, i.e. a `MONGO_URL` with credentials.
 */
const LAZY: Readonly<Record<string, string>> = {
  '@mongodb-js/saslprep': new URL('./lazy-saslprep.js', import.meta.url).href,
};

/**
 * TypeORM's `DriverFactory` requires the driver of every database it supports, each with its query
 * runner (SAP's and Spanner's among them): about 1.7 MB of source, 2 MB of heap, in every service with a
 * database, which uses only `mongodb`. Its requires of the others get one stand-in
 * (lazy-typeorm-drivers.ts) whose `<Name>Driver` requires the real module when read, i.e. when a
 * DataSource of that type is created.
 */
export const TYPEORM_DRIVERS: Readonly<Record<string, string>> = {
  AuroraMysqlDriver: './aurora-mysql/AuroraMysqlDriver',
  AuroraPostgresDriver: './aurora-postgres/AuroraPostgresDriver',
  BetterSqlite3Driver: './better-sqlite3/BetterSqlite3Driver',
  CapacitorDriver: './capacitor/CapacitorDriver',
  CockroachDriver: './cockroachdb/CockroachDriver',
  CordovaDriver: './cordova/CordovaDriver',
  ExpoDriver: './expo/ExpoDriver',
  MysqlDriver: './mysql/MysqlDriver',
  NativescriptDriver: './nativescript/NativescriptDriver',
  OracleDriver: './oracle/OracleDriver',
  PostgresDriver: './postgres/PostgresDriver',
  ReactNativeDriver: './react-native/ReactNativeDriver',
  SapDriver: './sap/SapDriver',
  SpannerDriver: './spanner/SpannerDriver',
  SqljsDriver: './sqljs/SqljsDriver',
  SqlServerDriver: './sqlserver/SqlServerDriver',
};
const TYPEORM_DRIVER_FACTORY = '/node_modules/typeorm/driver/DriverFactory.js';
const TYPEORM_DRIVERS_STAND_IN = new URL('./lazy-typeorm-drivers.js', import.meta.url).href;
const typeormDriverSpecifiers = new Set(Object.values(TYPEORM_DRIVERS));

/** The URL each redirected specifier would have had, for its stand-in to load. */
const realUrls = new Map<string, string>();

/** The URL `specifier` resolved to where a stand-in replaced it (undefined until then). */
export function lazyDependencyUrl(specifier: string): string | undefined {
  return realUrls.get(specifier);
}

function standInFor(specifier: string, parentURL: string | undefined): string | undefined {
  if (typeormDriverSpecifiers.has(specifier)) {
    return parentURL?.endsWith(TYPEORM_DRIVER_FACTORY) ? TYPEORM_DRIVERS_STAND_IN : undefined;
  }
  return LAZY[specifier];
}

/**
 * `module.registerHooks` came with Node 22.15; `engines` and the Docker image (`node:22.12`) allow 22.12,
 * where the named import would stop every service at start. There the modules load as they always did.
 */
const registerHooks = (nodeModule as { registerHooks?: typeof nodeModule.registerHooks }).registerHooks;

// Only for the built services: run from the TypeScript sources (the specs under vitest), the stand-ins
// are not JavaScript files Node could load.
const built = [...Object.values(LAZY), TYPEORM_DRIVERS_STAND_IN].every((url) =>
  existsSync(fileURLToPath(url)),
);

if (built) {
  registerHooks?.({
    resolve(specifier, context, nextResolve) {
      const standIn = standInFor(specifier, context.parentURL);
      // Only `require`: the stand-in loads the package's CommonJS entry, which an ESM import would not name.
      if (standIn === undefined || context.parentURL === standIn || !context.conditions?.includes('require'))
        return nextResolve(specifier, context);
      realUrls.set(specifier, nextResolve(specifier, context).url);
      return { url: standIn, shortCircuit: true };
    },
  });
}
