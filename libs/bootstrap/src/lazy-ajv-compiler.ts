import { requireLazyDependency } from './lazy-dependencies.js';

type Build = (...args: unknown[]) => unknown;
type Selector = (...args: unknown[]) => Build;

/**
 * What Fastify's schema controller gets for `@fastify/ajv-compiler` (see lazy-dependencies.ts): a selector
 * whose validator builder requires the package (and Ajv) on its first call, i.e. for the first route with
 * a schema to validate, and from then on is the package's own builder for the same options.
 */
function ajvCompiler(...selectorArgs: unknown[]): Build {
  let real: Build | undefined;
  return (...args) => {
    real ??= (requireLazyDependency('@fastify/ajv-compiler') as Selector)(...selectorArgs);
    return real(...args);
  };
}

// `require()` of this module returns the selector itself (the export named 'module.exports'), as the
// package's does.
export { ajvCompiler as 'module.exports' };
