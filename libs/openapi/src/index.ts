export * from './api-docs.decorators.js';
export * from './openapi-document.js';
export * from './openapi.module.js';
export * from './problem.response.js';
