// Preload: `node --import ./dist/libs/telemetry/src/register.js dist/apps/<service>/src/main.js`.
// It runs before the application imports anything, so instrumented modules are patched as they load.
import { register } from 'node:module';
import { startTelemetry } from './sdk.js';

/**
 * Modules whose `import` (ESM) goes through import-in-the-middle, for instrumentations that patch a
 * module's exports. Today none: the MongoDB instrumentation patches files the driver `require`s itself
 * (require-in-the-middle, no loader hook), undici is observed on its diagnostics channels and HTTP server
 * spans come from Fastify hooks. Adding such an instrumentation only means listing its module here. While
 * the list is empty, import-in-the-middle is not loaded at all: with `mongodb` listed, as until
 * 2026-12-07, its hooks, its CommonJS lexer and the wrapper of the driver's exports cost 1 MB of heap in
 * every service for nothing. Wrapping every module instead, the loader's default, added a second to each
 * start-up.
 */
const HOOKED_MODULES: readonly string[] = [];

if (HOOKED_MODULES.length > 0) {
  // import-in-the-middle's in-thread hooks (module.registerHooks, Node >= 22.22.3) cost next to nothing;
  // the off-thread loader of older versions pays a round trip per module, so it is only the fallback.
  const iitm = await import('import-in-the-middle/register-hooks.mjs').catch(() => undefined);
  if (iitm?.supportsSyncHooks()) {
    iitm.register({ include: [...HOOKED_MODULES] });
  } else {
    register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, {
      data: { include: HOOKED_MODULES },
    });
  }
}
await startTelemetry();
