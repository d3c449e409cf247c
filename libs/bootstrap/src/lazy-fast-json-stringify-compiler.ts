import { lazyCompilerSelector } from './lazy-dependencies.js';

/**
 * What Fastify's schema controller gets for `@fastify/fast-json-stringify-compiler` (see
 * lazy-dependencies.ts): its serializer selector, the package (with fast-json-stringify's validator and Ajv)
 * required for the first route with a response schema.
 */
const serializerSelector = lazyCompilerSelector('@fastify/fast-json-stringify-compiler');

// `require()` of this module returns the selector itself (the export named 'module.exports'), as the
// package's does.
export { serializerSelector as 'module.exports' };
