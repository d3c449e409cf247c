import { existsSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * Packages that a dependency requires when it loads but calls only on a path most labs never take,
 * redirected to a stand-in that requires the real package on first use. Imported first by this lib,
 * before anything loads the MongoDB driver.
 *
 * `@mongodb-js/saslprep`: the driver's SCRAM module requires it at load time, and it builds its Unicode
 * tables at once (1.6 MB of heap, about 2 MB of RSS, in every service with a database); the driver
 * calls it only to authenticate with SCRAM-SHA-256, i.e. a `MONGO_URL` with credentials.
 */
const LAZY: Readonly<Record<string, string>> = {
  '@mongodb-js/saslprep': new URL('./lazy-saslprep.js', import.meta.url).href,
};

/** The URL each redirected package would have had, for its stand-in to load. */
const realUrls = new Map<string, string>();

/** The URL `specifier` resolved to where a stand-in replaced it (undefined until then). */
export function lazyDependencyUrl(specifier: string): string | undefined {
  return realUrls.get(specifier);
}

/**
 * `module.registerHooks` came with Node 22.15; `engines` and the Docker image (`node:22.12`) allow 22.12,
 * where the named import would stop every service at start. There the packages load as they always did.
 */
const registerHooks = (nodeModule as { registerHooks?: typeof nodeModule.registerHooks }).registerHooks;

// Only for the built services: run from the TypeScript sources (the specs under vitest), the stand-ins
// are not JavaScript files Node could load.
const built = Object.values(LAZY).every((url) => existsSync(fileURLToPath(url)));

if (built) {
  registerHooks?.({
    resolve(specifier, context, nextResolve) {
      const standIn = LAZY[specifier];
      // Only `require`: the stand-in loads the package's CommonJS entry, which an ESM import would not name.
      if (standIn === undefined || context.parentURL === standIn || !context.conditions?.includes('require'))
        return nextResolve(specifier, context);
      realUrls.set(specifier, nextResolve(specifier, context).url);
      return { url: standIn, shortCircuit: true };
    },
  });
}
