export * from './backoff.js';
export * from './circuit-breaker.js';
export * from './errors.js';
export * from './hop-by-hop.js';
export * from './http-client.module.js';
export * from './resilience-metrics.js';
export * from './retry-budget.js';
export * from './service-client.js';
