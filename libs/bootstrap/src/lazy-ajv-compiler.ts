import { lazyCompilerSelector } from './lazy-dependencies.js';

/**
 * What Fastify's schema controller gets for `@fastify/ajv-compiler` (see lazy-dependencies.ts): its validator
 * selector, the package (and Ajv) required for the first route with a schema to validate.
 */
const ajvCompiler = lazyCompilerSelector('@fastify/ajv-compiler');

// `require()` of this module returns the selector itself (the export named 'module.exports'), as the
// package's does.
export { ajvCompiler as 'module.exports' };
