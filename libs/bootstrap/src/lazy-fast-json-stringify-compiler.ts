import { requireLazyDependency } from './lazy-dependencies.js';

type Build = (...args: unknown[]) => unknown;
type Selector = (...args: unknown[]) => Build;

/**
 * What Fastify's schema controller gets for `@fastify/fast-json-stringify-compiler` (see
 * lazy-dependencies.ts): a selector whose serializer builder requires the package (with
 * fast-json-stringify's validator and Ajv) on its first call, i.e. for the first route with a response
 * schema, and from then on is the package's own builder.
 */
function serializerSelector(...selectorArgs: unknown[]): Build {
  let real: Build | undefined;
  return (...args) => {
    real ??= (requireLazyDependency('@fastify/fast-json-stringify-compiler') as Selector)(...selectorArgs);
    return real(...args);
  };
}

// `require()` of this module returns the selector itself (the export named 'module.exports'), as the
// package's does.
export { serializerSelector as 'module.exports' };
