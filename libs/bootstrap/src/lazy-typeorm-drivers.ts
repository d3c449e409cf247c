import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { lazyDependencyUrl, TYPEORM_DRIVERS } from './lazy-dependencies.js';

const require = createRequire(import.meta.url);

/**
 * What TypeORM's `DriverFactory` gets for each driver module but MongoDB's (see lazy-dependencies.ts):
 * one object whose `<Name>Driver` is the real module's class, the module required when first read.
 * `DriverFactory` reads it only in `create()`, for the type a DataSource asked for.
 */
const drivers: Record<string, unknown> = {};
for (const [name, specifier] of Object.entries(TYPEORM_DRIVERS)) {
  Object.defineProperty(drivers, name, {
    enumerable: true,
    get: () => {
      const url = lazyDependencyUrl(specifier);
      if (url === undefined) throw new Error(`typeorm's ${name} was not required through DriverFactory`);
      return (require(fileURLToPath(url)) as Record<string, unknown>)[name];
    },
  });
}

// `require()` of this module returns `drivers` itself (Node 22.12+), not a namespace with fixed bindings.
export { drivers as 'module.exports' };
