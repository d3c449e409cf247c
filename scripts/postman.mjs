// `npm run postman [-- <environment.json>]`: runs the Postman collection with Newman (CLI reporter)
// against the gateway the environment points to: the first argument, else POSTMAN_ENV, else
// postman/local.postman_environment.json (http://localhost:3000). POSTMAN_BASE_URL overrides the
// environment's baseUrl (e.g. a gateway on another GATEWAY_PORT). The exit code is the number of
// failures (at most 255), 0 when everything passed.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const newman = createRequire(import.meta.url)('newman');

// npm runs scripts from the package root; a relative path is the caller's (INIT_CWD).
const callerDir = process.env.INIT_CWD ?? process.cwd();
const given = process.argv[2] ?? process.env.POSTMAN_ENV;
const environment = given ? resolve(callerDir, given) : join(root, 'postman/local.postman_environment.json');
const collection = join(root, 'postman/observability-lab.postman_collection.json');
if (!existsSync(environment)) {
  console.error(`No such environment file: ${environment} (give one of postman/*.postman_environment.json)`);
  process.exit(2);
}
const envVar = process.env.POSTMAN_BASE_URL ? [{ key: 'baseUrl', value: process.env.POSTMAN_BASE_URL }] : [];

newman.run(
  { collection, environment, envVar, reporters: ['cli'], timeoutRequest: 15_000 },
  (error, summary) => {
    if (error) {
      console.error(`newman could not run the collection: ${error.message}`);
      process.exit(1);
    }
    const failures = summary.run.failures.length + (summary.run.error ? 1 : 0);
    if (summary.run.failures.some((f) => /ECONNREFUSED/.test(f.error?.message))) {
      console.error(
        'Is the lab running? Start it with `npm start` (or `docker compose up -d`), or point POSTMAN_BASE_URL at the gateway.',
      );
    }
    process.exit(Math.min(failures, 255));
  },
);
