import { requireLazyDependency, TYPEORM_DRIVERS } from './lazy-dependencies.js';

/**
 * What TypeORM's `DriverFactory` gets for each driver module but MongoDB's (see lazy-dependencies.ts):
 * one object whose `<Name>Driver` is the real module's class, the module required when first read.
 * `DriverFactory` reads it only in `create()`, for the type a DataSource asked for.
 */
const drivers: Record<string, unknown> = {};
for (const [name, specifier] of Object.entries(TYPEORM_DRIVERS)) {
  Object.defineProperty(drivers, name, {
    enumerable: true,
    get: () => (requireLazyDependency(specifier) as Record<string, unknown>)[name],
  });
}

// `require()` of this module returns `drivers` itself (the export named 'module.exports'), not a namespace
// whose bindings would be read when it loads.
export { drivers as 'module.exports' };
