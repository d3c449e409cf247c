// `npm run chaos -- <service> <fault> [value]`: switches a fault of a running lab on or off through
// the gateway (`/api/admin/faults/:service`, admin scope), without restarting anything, and prints the
// service's faults afterwards. Plain Node, no build needed. The admin token comes from the gateway's
// token endpoint (client_credentials, client `admin-cli`) and is kept in the temp directory until it
// is about to expire, so a fault that breaks the token endpoint (errors on oauth) can still be switched
// off.
//
//   GATEWAY_URL           the lab's gateway (default http://localhost:GATEWAY_PORT, 3000)
//   ADMIN_CLIENT_SECRET   the admin-cli client's secret (default admin-cli-secret)
// from the environment, then from .env.local (scripts/local-env.mjs), as npm start reads them.
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defaultGatewayUrl, labUrl, loadLocalEnv, SettingError } from './local-env.mjs';

export const SERVICES = ['gateway', 'oauth', 'customer', 'product', 'order'];
const MAX_LATENCY_MS = 60_000;
const MAX_MEMORY_MB = 1024;
const MAX_EVENT_LOOP_BLOCK_MS = 5_000;
const TIMEOUT_MS = 10_000;

const USAGE = `usage: npm run chaos -- <service> <fault> [value]

  <service>  one of ${SERVICES.join(', ')}

  latency <ms>|<min>-<max>|off   delay every request (fixed, or uniformly random in min-max; max ${MAX_LATENCY_MS})
  errors <ratio>|<n>%|off        answer that share of requests 500 (0 to 1, or a percentage)
  unreachable <svc>[,<svc>…]|none  calls from this service to those fail as if they were down
  readiness fail|ok              /health/ready answers 503 (fail) or normally (ok)
  memory <MiB>|off               allocate and hold that much memory (max ${MAX_MEMORY_MB}; resident, outside the heap)
  eventloop <ms>|off             each request blocks the event loop that long first (max ${MAX_EVENT_LOOP_BLOCK_MS}): everything waits
  off                            switch every fault of the service off
  status                         print the service's faults

examples:
  npm run chaos -- product latency 2000
  npm run chaos -- product latency 100-500
  npm run chaos -- product errors 0.5
  npm run chaos -- order unreachable product,customer
  npm run chaos -- product readiness fail
  npm run chaos -- product memory 200
  npm run chaos -- product eventloop 300
  npm run chaos -- product off

environment: GATEWAY_URL (default http://localhost:$GATEWAY_PORT, 3000), ADMIN_CLIENT_SECRET (default admin-cli-secret);
read from the environment, then from .env.local (npm start's settings). For Docker Compose, pass the
secret of .env: ADMIN_CLIENT_SECRET=... npm run chaos -- ...`;

class UsageError extends Error {}
class HelpRequested extends Error {}
export class ChaosError extends Error {}

/** The request to send for the command line: `{method, body?}`; throws UsageError on bad input. */
export function requestFor(args) {
  const [service, fault, value, ...rest] = args;
  if (service === '-h' || service === '--help' || service === 'help') throw new HelpRequested();
  if (!service) throw new UsageError('say which service and which fault');
  if (!SERVICES.includes(service))
    throw new UsageError(`unknown service "${service}": choose one of ${SERVICES.join(', ')}`);
  if (!fault)
    throw new UsageError(
      `say which fault to change on ${service} (latency, errors, unreachable, readiness, memory, eventloop, off, status)`,
    );
  if (rest.length > 0) throw new UsageError(`too many arguments: ${rest.join(' ')}`);
  const needValue = (what) => {
    if (value === undefined) throw new UsageError(`${fault} needs a value: ${what}`);
    return value.trim().toLowerCase();
  };
  switch (fault) {
    case 'status':
    case 'off':
      if (value !== undefined) throw new UsageError(`${fault} takes no value`);
      return { service, method: fault === 'status' ? 'GET' : 'DELETE' };
    case 'latency': {
      const text = needValue('milliseconds (2000), a range (100-500) or off');
      if (text === 'off' || text === 'none') return { service, method: 'PUT', body: { latency: null } };
      const match = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(text);
      if (!match)
        throw new UsageError(`latency "${value}" is not milliseconds (2000), a range (100-500) or off`);
      const minMs = Number(match[1]);
      const maxMs = match[2] === undefined ? minMs : Number(match[2]);
      if (minMs > maxMs) throw new UsageError(`latency ${value}: the minimum is greater than the maximum`);
      if (maxMs > MAX_LATENCY_MS) throw new UsageError(`latency ${value}: at most ${MAX_LATENCY_MS} ms`);
      return { service, method: 'PUT', body: { latency: { minMs, maxMs } } };
    }
    case 'errors': {
      const text = needValue('a ratio from 0 to 1 (0.5), a percentage (50%) or off');
      if (text === 'off' || text === 'none') return { service, method: 'PUT', body: { errorRatio: 0 } };
      const percent = text.endsWith('%');
      const number = Number(percent ? text.slice(0, -1) : text);
      const ratio = percent ? number / 100 : number;
      if (text === '' || text === '%' || !Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
        throw new UsageError(`errors "${value}" is not a ratio from 0 to 1 (0.5), a percentage (50%) or off`);
      }
      return { service, method: 'PUT', body: { errorRatio: ratio } };
    }
    case 'unreachable': {
      const text = needValue(
        `service names separated by commas (${SERVICES.filter((s) => s !== service).join(',')}) or none`,
      );
      if (text === 'none' || text === 'off') return { service, method: 'PUT', body: { unreachable: [] } };
      const names = text
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean);
      const unknown = names.filter((name) => !SERVICES.includes(name));
      if (names.length === 0 || unknown.length > 0) {
        throw new UsageError(
          `unreachable: ${unknown.join(', ') || `"${value}"`} is not a service name (${SERVICES.join(', ')})`,
        );
      }
      if (names.includes(service))
        throw new UsageError(`unreachable: ${service} cannot make itself unreachable`);
      return { service, method: 'PUT', body: { unreachable: [...new Set(names)] } };
    }
    case 'readiness': {
      const text = needValue('fail or ok');
      if (['fail', 'failing', 'down', 'on'].includes(text))
        return { service, method: 'PUT', body: { readinessFailing: true } };
      if (['ok', 'up', 'off'].includes(text))
        return { service, method: 'PUT', body: { readinessFailing: false } };
      throw new UsageError(`readiness "${value}" must be fail or ok`);
    }
    case 'memory':
    case 'eventloop': {
      const [field, unit, max] =
        fault === 'memory'
          ? ['memoryMb', 'MiB', MAX_MEMORY_MB]
          : ['eventLoopBlockMs', 'milliseconds', MAX_EVENT_LOOP_BLOCK_MS];
      const text = needValue(`${unit} (0 to ${max}) or off`);
      if (text === 'off' || text === 'none') return { service, method: 'PUT', body: { [field]: 0 } };
      if (!/^\d+$/.test(text) || Number(text) > max)
        throw new UsageError(`${fault} "${value}" is not ${unit} from 0 to ${max}, or off`);
      return { service, method: 'PUT', body: { [field]: Number(text) } };
    }
    default:
      throw new UsageError(
        `unknown fault "${fault}": choose latency, errors, unreachable, readiness, memory, eventloop, off or status`,
      );
  }
}

/** One line per service: what is on. */
export function describe(view) {
  const { service, faults } = view;
  const latency = faults.latency
    ? faults.latency.minMs === faults.latency.maxMs
      ? `${faults.latency.minMs} ms`
      : `${faults.latency.minMs}-${faults.latency.maxMs} ms`
    : 'off';
  const errors =
    faults.errorRatio > 0 ? `${faults.errorRatio} (${Math.round(faults.errorRatio * 1000) / 10}%)` : 'off';
  const unreachable = faults.unreachable.length > 0 ? faults.unreachable.join(', ') : 'none';
  const readiness = faults.readinessFailing ? 'failing (503)' : 'ok';
  const memory = faults.memoryMb > 0 ? `${faults.memoryMb} MiB held` : 'off';
  const eventloop = faults.eventLoopBlockMs > 0 ? `${faults.eventLoopBlockMs} ms blocked per request` : 'off';
  const active =
    Boolean(faults.latency) ||
    faults.errorRatio > 0 ||
    faults.unreachable.length > 0 ||
    faults.readinessFailing ||
    faults.memoryMb > 0 ||
    faults.eventLoopBlockMs > 0;
  return [
    `${service}: ${active ? 'faults injected' : 'no fault injected'}`,
    `  latency      ${latency}`,
    `  errors       ${errors}`,
    `  unreachable  ${unreachable}`,
    `  readiness    ${readiness}`,
    `  memory       ${memory}`,
    `  eventloop    ${eventloop}`,
  ].join('\n');
}

async function send(url, init) {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (error) {
    const cause = error?.cause?.code ?? error?.cause?.message ?? error?.name ?? String(error);
    throw new ChaosError(
      `cannot reach the gateway at ${new URL(url).origin} (${cause}): is the lab running? (npm start, or docker compose up; set GATEWAY_URL otherwise)`,
    );
  }
}

async function readJson(response) {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 300) };
  }
}

function tokenCacheFile(gateway, clientSecret) {
  const key = createHash('sha256').update(`${gateway}\n${clientSecret}`).digest('hex').slice(0, 16);
  return join(tmpdir(), `observability-lab-chaos-${key}.json`);
}

export async function adminToken(gateway, clientSecret, { fresh = false } = {}) {
  const cache = tokenCacheFile(gateway, clientSecret);
  if (!fresh) {
    try {
      const cached = JSON.parse(readFileSync(cache, 'utf8'));
      if (typeof cached.token === 'string' && cached.expiresAt > Date.now() + 30_000) return cached.token;
    } catch {
      // no usable cached token
    }
  }
  let last = '';
  for (let attempt = 1; attempt <= 3; attempt++) {
    const response = await send(`${gateway}/api/oauth/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: 'admin-cli',
        client_secret: clientSecret,
      }),
    });
    const body = await readJson(response);
    if (response.ok && typeof body.access_token === 'string') {
      const expiresAt = Date.now() + (Number(body.expires_in) || 60) * 1000;
      try {
        writeFileSync(cache, JSON.stringify({ token: body.access_token, expiresAt }), { mode: 0o600 });
      } catch {
        // caching is a convenience
      }
      return body.access_token;
    }
    last = `${response.status} ${body.error_description ?? body.error ?? body.detail ?? ''}`.trim();
    if (response.status === 404)
      throw new ChaosError(
        `no token endpoint at ${gateway}/api/oauth/token (404): is GATEWAY_URL the gateway's address, such as http://localhost:3000?`,
      );
    if (response.status < 500) break;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  throw new ChaosError(
    `could not get an admin token from ${gateway}/api/oauth/token (${last}); check ADMIN_CLIENT_SECRET (the environment, then .env.local; for Compose, the one in .env), or whether a fault on the gateway or oauth blocks the token endpoint`,
  );
}

/**
 * Sends `{service, method, body?}` (as requestFor makes it) to the gateway's fault switch with an admin
 * token and returns the service's faults afterwards (`{service, faults}`); throws ChaosError otherwise.
 * Also used by scripts/scenario.mjs.
 */
export async function switchFault(gateway, clientSecret, request) {
  const call = async (token) =>
    send(`${gateway}/api/admin/faults/${request.service}`, {
      method: request.method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(request.body && { 'content-type': 'application/json' }),
      },
      body: request.body && JSON.stringify(request.body),
    });
  let response = await call(await adminToken(gateway, clientSecret));
  if (response.status === 401) {
    // The cached token may be from a lab since restarted (other signing keys).
    rmSync(tokenCacheFile(gateway, clientSecret), { force: true });
    response = await call(await adminToken(gateway, clientSecret, { fresh: true }));
  }
  const body = await readJson(response);
  if (!response.ok) {
    const details = Array.isArray(body.errors)
      ? `: ${body.errors.join('; ')}`
      : body.detail
        ? `: ${body.detail}`
        : '';
    throw new ChaosError(
      `${request.method} /api/admin/faults/${request.service} answered ${response.status}${details}`,
    );
  }
  return body;
}

async function main(args) {
  const json = args.includes('--json');
  const request = requestFor(args.filter((arg) => arg !== '--json'));
  loadLocalEnv();
  const gateway = labUrl('GATEWAY_URL', defaultGatewayUrl());
  const clientSecret = process.env.ADMIN_CLIENT_SECRET || 'admin-cli-secret';
  const body = await switchFault(gateway, clientSecret, request);
  console.log(json ? JSON.stringify(body, null, 2) : describe(body));
}

// Run as a command, not when imported (scripts/scenario.mjs imports the functions above).
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  try {
    await main(process.argv.slice(2));
  } catch (error) {
    if (error instanceof HelpRequested) {
      console.log(USAGE);
      process.exit(0);
    }
    if (error instanceof UsageError) {
      console.error(`chaos: ${error.message}\n`);
      console.error(USAGE);
      process.exit(2);
    }
    if (error instanceof SettingError) {
      console.error(`chaos: ${error.message}`);
      process.exit(2);
    }
    console.error(`chaos: ${error instanceof ChaosError ? error.message : (error?.stack ?? String(error))}`);
    process.exit(1);
  }
}
