import type { Env } from './load-config.js';

/**
 * The process environment, for the apps that are not Nest services (alert-webhook, traffic) and
 * validate it with their own rules: outside this lib nothing reads `process.env`.
 */
export function processEnvironment(): Env {
  return process.env;
}
