// Preload: `node --import ./dist/libs/telemetry/src/register.js dist/apps/<service>/src/main.js`.
// It runs before the application imports anything, so instrumented modules are patched as they load.
import { register } from 'node:module';
import { startTelemetry } from './sdk.js';

/**
 * Modules whose `import` (ESM) goes through import-in-the-middle, for instrumentations that patch a
 * module's exports. Today nothing needs it: the MongoDB instrumentation patches files the driver
 * `require`s itself (require-in-the-middle, no loader hook), undici is observed on its diagnostics
 * channels and HTTP server spans come from Fastify hooks. The hook stays so that adding such an
 * instrumentation only means listing its module here. Wrapping every module instead, the loader's
 * default, added a second to each start-up.
 */
const HOOKED_MODULES = ['mongodb'];

// import-in-the-middle's in-thread hooks (module.registerHooks, Node >= 22.22.3) cost next to nothing;
// the off-thread loader of older versions pays a round trip per module, so it is only the fallback.
const iitm = await import('import-in-the-middle/register-hooks.mjs').catch(() => undefined);
if (iitm?.supportsSyncHooks()) {
  iitm.register({ include: HOOKED_MODULES });
} else {
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, { data: { include: HOOKED_MODULES } });
}
await startTelemetry();
