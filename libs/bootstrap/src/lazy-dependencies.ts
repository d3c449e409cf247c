import { existsSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { fileURLToPath } from 'node:url';

/** A stand-in, and the module whose requires of the specifier it replaces (any module's when absent). */
interface StandIn {
  readonly url: string;
  readonly requiredFrom?: string;
}

const standIn = (file: string, requiredFrom?: string): StandIn => ({
  url: new URL(file, import.meta.url).href,
  requiredFrom,
});

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
const typeormDrivers = standIn('./lazy-typeorm-drivers.js', '/node_modules/typeorm/driver/DriverFactory.js');

/**
 * Modules that a dependency requires when it loads but uses only on a path the lab never takes or most
 * labs never take, redirected to a stand-in that requires the real module on first use. Imported first by
 * this lib, before anything loads the MongoDB driver, TypeORM or class-validator.
 *
 * `@mongodb-js/saslprep`: the driver's SCRAM module requires it at load time, and it builds its Unicode
 * tables at once (1.6 MB of heap, about 2 MB of RSS, in every service with a database); the driver
 * calls it only to authenticate with SCRAM-SHA-256, i.e. a `MONGO_URL` with credentials.
 *
 * `libphonenumber-js/max`: class-validator's `IsPhoneNumber` requires it (73 modules, the full phone
 * number metadata: 1.8 MB of heap, in every service) and calls its `parsePhoneNumber` only to validate
 * a field decorated with `@IsPhoneNumber()`, which the lab has none of.
 *
 * `@opentelemetry/host-metrics`: nestjs-otel's core module requires it (and through it part of
 * `systeminformation`: 0.6 MB of heap, in every service, since nestjs-otel's index loads that module) and
 * reads its `HostMetrics` only for an `OpenTelemetryModule` with `metrics.hostMetrics`, which the lab does
 * not create (the telemetry lib provides `TraceService` itself).
 *
 * `@so-ric/colorspace`: winston requires `@dabh/diagnostics`, whose development build (any `NODE_ENV` but
 * `production`, so `npm start`'s) requires it for an ANSI namespace modifier that runs only when a
 * `DEBUG`/`DIAGNOSTICS` variable enables one of winston's diagnostics (0.4 MB of heap, in every service).
 *
 * `@fastify/ajv-compiler` and `@fastify/fast-json-stringify-compiler`: Fastify's schema controller requires
 * both when an instance is created, and with them Ajv, its JTD and standalone builds, ajv-formats and
 * fast-uri (1.1 MB of heap, in every service); it calls their builders only for a route with a schema to
 * validate or a response schema to serialize by, which the lab's routes have none of (Fastify's own error
 * serializer is prebuilt).
 */
const LAZY: ReadonlyMap<string, StandIn> = new Map([
  ['@mongodb-js/saslprep', standIn('./lazy-saslprep.js')],
  [
    'libphonenumber-js/max',
    standIn(
      './lazy-libphonenumber.js',
      '/node_modules/class-validator/cjs/decorator/string/IsPhoneNumber.js',
    ),
  ],
  [
    '@opentelemetry/host-metrics',
    standIn('./lazy-host-metrics.js', '/node_modules/nestjs-otel/lib/opentelemetry-core.module.js'),
  ],
  [
    '@so-ric/colorspace',
    standIn('./lazy-colorspace.js', '/node_modules/@dabh/diagnostics/modifiers/namespace-ansi.js'),
  ],
  [
    '@fastify/ajv-compiler',
    standIn('./lazy-ajv-compiler.js', '/node_modules/fastify/lib/schema-controller.js'),
  ],
  [
    '@fastify/fast-json-stringify-compiler',
    standIn('./lazy-fast-json-stringify-compiler.js', '/node_modules/fastify/lib/schema-controller.js'),
  ],
  ...Object.values(TYPEORM_DRIVERS).map((specifier) => [specifier, typeormDrivers] as const),
]);

/** The URL each redirected specifier would have had, for its stand-in to load. */
const realUrls = new Map<string, string>();

/** The URL `specifier` resolved to where a stand-in replaced it (undefined until then). */
export function lazyDependencyUrl(specifier: string): string | undefined {
  return realUrls.get(specifier);
}

/** For a stand-in: the real module `specifier` names, which the hook redirected it from. */
export function requireLazyDependency(specifier: string): unknown {
  const url = realUrls.get(specifier);
  if (url === undefined)
    throw new Error(`${specifier}: no require of it went to a stand-in (lazy-dependencies.ts)`);
  return nodeModule.createRequire(import.meta.url)(fileURLToPath(url));
}

type Build = (...args: unknown[]) => unknown;

/**
 * For the stand-in of one of Fastify's schema compilers (`@fastify/ajv-compiler`,
 * `@fastify/fast-json-stringify-compiler`): a selector whose builder requires the package on its first call,
 * i.e. for the first route with a schema it compiles, and from then on is the package's own builder for the
 * same options.
 */
export function lazyCompilerSelector(specifier: string): (...selectorArgs: unknown[]) => Build {
  return (...selectorArgs) => {
    let real: Build | undefined;
    return (...args) => {
      real ??= (requireLazyDependency(specifier) as (...selectorArgs: unknown[]) => Build)(...selectorArgs);
      return real(...args);
    };
  };
}

/**
 * `module.registerHooks` came with Node 22.15; `engines` and the Docker image (`node:22.12`) allow 22.12,
 * where the named import would stop every service at start. There the modules load as they always did.
 */
const registerHooks = (nodeModule as { registerHooks?: typeof nodeModule.registerHooks }).registerHooks;

// Only for the built services: run from the TypeScript sources (the specs under vitest), the stand-ins
// are not JavaScript files Node could load.
const built = [...LAZY.values()].every(({ url }) => existsSync(fileURLToPath(url)));

if (built) {
  registerHooks?.({
    resolve(specifier, context, nextResolve) {
      const lazy = LAZY.get(specifier);
      // Only `require`: the stand-in loads the package's CommonJS entry, which an ESM import would not name.
      if (
        lazy === undefined ||
        context.parentURL === lazy.url ||
        (lazy.requiredFrom !== undefined && !context.parentURL?.endsWith(lazy.requiredFrom)) ||
        !context.conditions?.includes('require')
      )
        return nextResolve(specifier, context);
      realUrls.set(specifier, nextResolve(specifier, context).url);
      return { url: lazy.url, shortCircuit: true };
    },
  });
}
