// `npm run postman [-- <environment.json>]`: runs the Postman collection with Newman (CLI reporter)
// against the gateway the environment points to: the first argument, else POSTMAN_ENV, else
// postman/local.postman_environment.json (http://localhost:3000), whose gateway, admin and limits follow
// npm start's settings where set (the environment, then .env.local). POSTMAN_BASE_URL overrides the
// environment's baseUrl (e.g. a gateway on another GATEWAY_PORT). The exit code is the number of
// failures (at most 255), 0 when everything passed; 2 for an argument or environment it cannot use, 1 when
// the gateway cannot be reached (said in one line, before Newman would report every request failing).
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultGatewayUrl, httpAddress, loadLocalEnvOrExit, SettingError } from './local-env.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const newman = createRequire(import.meta.url)('newman');

const USAGE = `usage: npm run postman [-- <environment.json>]
  runs the Postman collection against the gateway of the environment: the file given, else POSTMAN_ENV,
  else postman/local.postman_environment.json (npm start); POSTMAN_BASE_URL overrides its baseUrl`;
const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}
const option = args.find((arg) => arg.startsWith('-'));
if (option || args.length > 1) {
  console.error(`${option ? `unknown option ${option}` : 'one environment file at most'}\n${USAGE}`);
  process.exit(2);
}

// npm runs scripts from the package root; a relative path is the caller's (INIT_CWD).
const callerDir = process.env.INIT_CWD ?? process.cwd();
const given = args[0] ?? process.env.POSTMAN_ENV;
const LOCAL_ENVIRONMENT = join(root, 'postman/local.postman_environment.json');
const environment = given ? resolve(callerDir, given) : LOCAL_ENVIRONMENT;
const collection = join(root, 'postman/observability-lab.postman_collection.json');
if (!existsSync(environment)) {
  console.error(`No such environment file: ${environment} (give one of postman/*.postman_environment.json)`);
  process.exit(2);
}
// The local environment's values that npm start's settings decide: taken from the environment, then
// .env.local (as npm start reads them), where set, so a changed admin password or gateway port needs no
// edit of the environment file. The Compose environment's come from .env: edit the file for those.
const SETTINGS = [
  ['adminEmail', 'OAUTH_ADMIN_EMAIL'],
  ['adminPassword', 'OAUTH_ADMIN_PASSWORD'],
  ['adminClientSecret', 'ADMIN_CLIENT_SECRET'],
  ['loginMaxFailures', 'LOGIN_MAX_FAILURES'],
  ['rateLimitRequests', 'RATE_LIMIT_REQUESTS'],
];
const envVar = [];
let baseUrl;
let baseFrom = environment;
if (environment === LOCAL_ENVIRONMENT) {
  loadLocalEnvOrExit();
  if (process.env.GATEWAY_URL || process.env.GATEWAY_PORT) {
    baseUrl = defaultGatewayUrl();
    baseFrom = process.env.GATEWAY_URL ? 'GATEWAY_URL' : 'GATEWAY_PORT';
  }
  for (const [key, name] of SETTINGS) if (process.env[name]) envVar.push({ key, value: process.env[name] });
}
if (process.env.POSTMAN_BASE_URL) {
  baseUrl = process.env.POSTMAN_BASE_URL;
  baseFrom = 'POSTMAN_BASE_URL';
}
if (!baseUrl) {
  try {
    const values = JSON.parse(readFileSync(environment, 'utf8')).values ?? [];
    baseUrl = values.find((v) => v.key === 'baseUrl' && v.enabled !== false)?.value;
  } catch (error) {
    console.error(`${environment} is not a Postman environment (${error.message})`);
    process.exit(2);
  }
}
if (!baseUrl) {
  console.error(`${environment} has no baseUrl: give the gateway's address there or in POSTMAN_BASE_URL`);
  process.exit(2);
}
// Without a trailing slash: the collection's paths start with one (`//api/...` is a 404).
let base;
try {
  base = httpAddress(baseUrl, `baseUrl "${baseUrl}" (${baseFrom})`);
} catch (error) {
  if (!(error instanceof SettingError)) throw error;
  console.error(error.message);
  process.exit(2);
}
envVar.unshift({ key: 'baseUrl', value: base });

// One request first: a gateway nothing answers at is one line, not every request of the collection
// failing the same way. Any answer will do (503 while it starts); other errors, and a proxy in between
// (which fetch does not use, Newman does), are left to Newman.
const proxied = ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy'].some((name) => process.env[name]);
if (!proxied) {
  try {
    await fetch(`${base}/health/live`, { signal: AbortSignal.timeout(15_000) });
  } catch (error) {
    const code = error.cause?.code;
    if (['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code)) {
      console.error(
        `cannot reach the gateway at ${base} (${code}): is the lab running? Start it with \`npm start\` (or \`docker compose up -d\`), or point POSTMAN_BASE_URL at the gateway.`,
      );
      process.exit(1);
    }
  }
}

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
