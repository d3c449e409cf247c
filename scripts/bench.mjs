// `npm run bench`: measures the lab side by side in one run on this machine and prints a table with
// each target and a pass/miss mark, plus docs/performance.json. Ratios, not absolute numbers, are what
// hold on a noisy machine: every comparison runs its two sides in alternation, ROUNDS times, and
// reports the median of the per-round figures. The OTLP and Fluentd receivers run in a child process
// of their own. Everything runs on 127.0.0.1; every phase is bounded in time.
//
//   npm run bench                 the whole run (about 3 minutes, and 90 s of the lab left idle)
//   BENCH_SECONDS=5 npm run bench shorter phases (less stable numbers)
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Agent, request } from 'undici';
import { countFromEnv, measureDriverFloor, measureStore } from './bench-store.mjs';
import { SERVICE_ENV, SERVICE_NODE_FLAGS } from './service-flags.mjs';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const USAGE = `usage: npm run bench
  measures the lab side by side (about 6 minutes), prints the table and writes docs/performance.json;
  BENCH_SECONDS: seconds per measured phase (default 10)`;
const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}
// --receivers: the child process this script starts for the OTLP and Fluentd receivers.
if (args.length > 0 && !(args.length === 1 && args[0] === '--receivers')) {
  console.error(`bench: unknown argument ${args.find((arg) => arg !== '--receivers') ?? args[1]}\n${USAGE}`);
  process.exit(2);
}
const SECONDS = countFromEnv('BENCH_SECONDS', 10);
const ROUNDS = 3;
const SERVICES = ['gateway', 'oauth', 'customer', 'product', 'order'];
/**
 * After "all 5 ready", what start-up leaves running ends: V8's memory reducer collects each process
 * twice 30-50 s after ready (about 0.2 s of CPU each, once), after which the lab is idle.
 */
const IDLE_SETTLE_SECONDS = 60;
const started = Date.now();
const say = (text) =>
  console.log(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${text}`);

const receiversChild = process.argv[2] === '--receivers';
if (!receiversChild) await run(process.execPath, [join(root, 'scripts/build.mjs')]);
const testing = await import(join(root, 'dist/libs/testing/src/index.js'));
const { freePort, waitForHttp, startLab } = testing;
if (receiversChild) await runReceivers();

const children = new Set();
const cleanup = () => {
  for (const child of children) child.kill('SIGKILL');
};
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

let ports;
const results = { machine: machine(), seconds: SECONDS, figures: [] };
const figure = (name, value, unit, target, pass, note = '') => {
  results.figures.push({ name, value, unit, target, pass, note });
  say(`${name}: ${format(value)} ${unit} (target ${target}) ${pass ? 'PASS' : 'MISS'}`);
};

try {
  // --- 4b. time from `npm start` to all five ready (the launcher, as a user runs it) -----------
  // Twice, and the slower start counts: one start is what a user sees, but one sample is noise here.
  say('starting the lab with the launcher twice, to time it; the second is then left idle');
  const starts = [];
  let idle;
  for (let i = 0; i < 2; i++) {
    const lab = await startLab();
    starts.push(Number(/all 5 services ready in ([\d.]+) s/.exec(lab.process.output())?.[1]));
    if (i === 1) idle = await idleCpu(lab.process.pid, IDLE_SETTLE_SECONDS, SECONDS * 3);
    await lab.stop();
  }
  const readySeconds = Math.max(...starts);
  figure(
    'npm start → all 5 ready',
    readySeconds,
    's',
    '≤ 10 s',
    readySeconds <= 10,
    `starts of ${starts.map((s) => s.toFixed(1)).join(' and ')} s`,
  );

  // --- idle: the lab as `npm start` runs it, with no traffic (a lab left running on a laptop) ------
  figure(
    'idle: CPU of the whole lab',
    idle.total,
    '% of a core',
    '≤ 1 %',
    idle.total <= 1,
    `over ${idle.seconds} s, ${IDLE_SETTLE_SECONDS} s after ready: ${idle.processes.map((p) => `${p.name} ${p.percent.toFixed(2)}`).join(', ')} %`,
  );
  const settled = idle.processes.filter((p) => SERVICES.includes(p.name));
  const settledMax = Math.max(...settled.map((p) => p.rss));
  figure(
    'footprint: RSS idle, settled (largest service)',
    settledMax,
    'MB',
    '≤ 120 MB',
    settledMax <= 120,
    `npm start's defaults, at the end of the idle CPU window: ${settled.map((p) => `${p.name} ${p.rss.toFixed(0)}`).join(', ')} MB`,
  );

  // --- the embedded store alone: the driver with 16 operations in flight, the journal on ----------
  // Beside it, in alternation, the floor: the same driver and loop against a server that answers from
  // memory with no store behind it (scripts/wire-floor.mjs): no store can be served faster than that.
  say('embedded store: findOne by _id and a conditional updateOne, 16 in flight and one at a time');
  const storeRounds = [];
  const floorRounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    const pair = [
      async () => storeRounds.push((await measureStore({ seconds: SECONDS / 2, rounds: 1 })).rounds[0]),
      async () => floorRounds.push((await measureDriverFloor({ seconds: SECONDS / 2, rounds: 1 })).rounds[0]),
    ];
    for (const measure of round % 2 ? pair.reverse() : pair) await measure();
  }
  const mediansOf = (rounds) =>
    Object.fromEntries(
      Object.keys(rounds[0]).map((name) => [
        name,
        Object.fromEntries(
          ['ops', 'cpu', 'client'].map((field) => [field, median(rounds.map((r) => r[name][field]))]),
        ),
      ]),
    );
  const store = { ...mediansOf(storeRounds), rounds: storeRounds };
  const floor = mediansOf(floorRounds);
  const storeNote = (name) =>
    `one at a time ${store[`${name}Serial`].ops.toFixed(0)} ops/s; store CPU ${store[name].cpu.toFixed(0)} µs/op (${store[`${name}Serial`].cpu.toFixed(0)} one at a time), the driver's in the client ${store[name].client.toFixed(0)} µs/op; per round ${store.rounds.map((r) => r[name].ops.toFixed(0)).join(', ')}; the floor (no store, canned replies) ${floor[name].ops.toFixed(0)} ops/s, its server ${floor[name].cpu.toFixed(0)} µs/op, the client ${floor[name].client.toFixed(0)} µs/op; per round ${floorRounds.map((r) => r[name].ops.toFixed(0)).join(', ')}`;
  figure(
    'store: findOne by _id, 16 in flight',
    store.findOne.ops,
    'ops/s',
    '≥ 10k',
    store.findOne.ops >= 10_000,
    storeNote('findOne'),
  );
  figure(
    'store: conditional updateOne, 16 in flight',
    store.updateOne.ops,
    'ops/s',
    '≥ 8k',
    store.updateOne.ops >= 8_000,
    storeNote('updateOne'),
  );
  figure(
    'store: findOne by _id, 16 in flight, served from memory (the floor: no store)',
    floor.findOne.ops,
    'ops/s',
    'reported',
    true,
    `the driver in the client ${floor.findOne.client.toFixed(0)} µs of CPU per findOne, the canned server ${floor.findOne.cpu.toFixed(0)}; the store reached ${((100 * store.findOne.ops) / floor.findOne.ops).toFixed(0)} % of it`,
  );

  // --- the services, started directly (stdout to /dev/null, as a log driver would take it) -----
  const receivers = await startReceivers();
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-'));
  const mongoPort = await freePort();
  const mongo = startProcess(
    'dist/libs/embedded-mongo/src/cli.js',
    ['--port', String(mongoPort), '--data-dir', dataDir],
    {},
  );
  await waitForMongo(mongo);
  ports = Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await freePort()])));
  const env = {
    ...Object.fromEntries(SERVICES.map((s) => [`${s.toUpperCase()}_PORT`, String(ports[s])])),
    ...Object.fromEntries(SERVICES.map((s) => [`${s.toUpperCase()}_URL`, `http://127.0.0.1:${ports[s]}`])),
    MONGO_URL: `mongodb://127.0.0.1:${mongoPort}`,
    NODE_ENV: 'production',
    // The limiter stays on (its cost is part of the hop) but out of reach of a saturating benchmark.
    RATE_LIMIT_REQUESTS: '1000000000',
  };
  const fullTelemetry = {
    LOG_LEVEL: 'info',
    FLUENTD_HOST: '127.0.0.1',
    FLUENTD_PORT: String(receivers.fluentdPort),
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: receivers.otlpUrl,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_TRACES_SAMPLER: 'always_on',
  };
  const services = {};
  for (const service of SERVICES) services[service] = startService(service, { ...env, ...fullTelemetry });
  await Promise.all(
    SERVICES.map((s) => waitForHttp(`http://127.0.0.1:${ports[s]}/health/ready`, 200, 60_000)),
  );
  const url = (service, path) => `http://127.0.0.1:${ports[service]}${path}`;
  say(
    'five services ready (full telemetry: 100% sampled OTLP to a local receiver, logs to a local forward receiver)',
  );

  const rss = Object.fromEntries(SERVICES.map((s) => [s, { idle: rssMb(services[s].pid), max: 0 }]));
  const sampler = setInterval(() => {
    for (const s of SERVICES) rss[s].max = Math.max(rss[s].max, rssMb(services[s].pid));
  }, 200);

  const products = await json('GET', url('gateway', '/api/products?limit=1'));
  const productId = products.items[0].id;
  const productPath = `/products/${productId}`;

  // --- 1. gateway hop --------------------------------------------------------------------------
  say('gateway hop: GET /api/products/:id through the gateway vs GET /products/:id on the product service');
  const direct = url('product', productPath);
  const viaGateway = url('gateway', `/api${productPath}`);
  // The floor of a hop: one idle loopback HTTP round trip here, to a bare node:http server in a process
  // of its own answering the same body, timed by the same client at the same rate.
  const productBody = await (await fetch(direct)).text();
  const loopback = await startLoopbackServer(productBody);
  // The floor of a proxy: the same forwarding (`/api/...` to the product service, the answer read whole
  // and written back) in a bare node:http server with undici, in a process of its own: no framework,
  // no telemetry, no authentication or rate limit. No gateway can add less than this here.
  const bareProxy = await startBareProxy(url('product', ''));
  const viaBareProxy = `${bareProxy.url}api${productPath}`;
  await saturate(direct, 3); // warm-up
  await saturate(viaGateway, 3);
  await saturate(viaBareProxy, 3);
  await fixedRate(loopback.url, 50, 1);
  const hop = await alternate(
    [
      ['direct', direct],
      ['gateway', viaGateway],
      ['bareProxy', viaBareProxy],
    ],
    async ([, target]) => {
      const light = await fixedRate(target, 50, SECONDS / 2);
      const bare = await fixedRate(loopback.url, 50, SECONDS / 4);
      const sat = await saturate(target, SECONDS / 2);
      return { p50: light.p50, p99: light.p99, rps: sat.rps, loopbackP50: bare.p50 };
    },
  );
  loopback.process.kill('SIGTERM');
  bareProxy.process.kill('SIGTERM');
  const hopRatio = median(hop.map((r) => r.gateway.rps / r.direct.rps));
  figure(
    'gateway hop: throughput through the gateway / direct',
    hopRatio,
    '×',
    '≥ 0.8',
    hopRatio >= 0.8,
    `${median(hop.map((r) => r.direct.rps)).toFixed(0)} req/s direct, ${median(hop.map((r) => r.gateway.rps)).toFixed(0)} through the gateway; per round ${hop.map((r) => (r.gateway.rps / r.direct.rps).toFixed(2)).join(', ')}`,
  );
  const addedP50 = median(hop.map((r) => r.gateway.p50 - r.direct.p50));
  const roundTrip = median(hop.flatMap((r) => [r.direct.loopbackP50, r.gateway.loopbackP50]));
  const addedLimit = roundTrip + 0.2;
  figure(
    'gateway hop: p50 added at 50 req/s',
    addedP50,
    'ms',
    `≤ one loopback round trip + 0.2 ms (${addedLimit.toFixed(2)} ms)`,
    addedP50 <= addedLimit,
    `p50 ${median(hop.map((r) => r.direct.p50)).toFixed(2)} → ${median(hop.map((r) => r.gateway.p50)).toFixed(2)} ms; p99 added ${median(hop.map((r) => r.gateway.p99 - r.direct.p99)).toFixed(2)} ms; idle loopback round trip (bare node:http, same body, same client) p50 ${roundTrip.toFixed(2)} ms`,
  );
  figure(
    'gateway hop floor: a bare proxy (node:http + undici, no framework, no telemetry) / direct',
    median(hop.map((r) => r.bareProxy.rps / r.direct.rps)),
    '×',
    'reported',
    true,
    `${median(hop.map((r) => r.bareProxy.rps)).toFixed(0)} req/s; p50 added at 50 req/s ${median(hop.map((r) => r.bareProxy.p50 - r.direct.p50)).toFixed(2)} ms; per round ${hop.map((r) => (r.bareProxy.rps / r.direct.rps).toFixed(2)).join(', ')}`,
  );

  // --- 2. telemetry cost -----------------------------------------------------------------------
  say('telemetry cost: a second product service with telemetry off, side by side with the full one');
  const barePort = await freePort();
  const bare = startProcess(
    'dist/apps/product/src/main.js',
    [],
    {
      ...env,
      PRODUCT_PORT: String(barePort),
      LOG_LEVEL: 'warn',
      OTEL_SDK_DISABLED: 'true',
    },
    SERVICE_NODE_FLAGS,
  );
  await waitForHttp(`http://127.0.0.1:${barePort}/health/ready`, 200, 60_000);
  const bareUrl = `http://127.0.0.1:${barePort}${productPath}`;
  await saturate(bareUrl, 3);
  const telemetry = await alternate(
    [
      ['full', direct, services.product.pid],
      ['bare', bareUrl, bare.pid],
    ],
    async ([, target, pid]) => {
      const cpuBefore = cpuMicros(pid);
      const result = await saturate(target, SECONDS / 2);
      return { rps: result.rps, cpuPerRequest: (cpuMicros(pid) - cpuBefore) / result.requests };
    },
  );
  const telemetryRatio = median(telemetry.map((r) => r.full.rps / r.bare.rps));
  const cpu = (side) => median(telemetry.map((r) => r[side].cpuPerRequest));
  figure(
    'telemetry: throughput fully instrumented / telemetry off',
    telemetryRatio,
    '×',
    '≥ 0.6',
    telemetryRatio >= 0.6,
    `${median(telemetry.map((r) => r.bare.rps)).toFixed(0)} → ${median(telemetry.map((r) => r.full.rps)).toFixed(0)} req/s; CPU ${cpu('bare').toFixed(0)} → ${cpu('full').toFixed(0)} µs/request; per round ${telemetry.map((r) => (r.full.rps / r.bare.rps).toFixed(2)).join(', ')}`,
  );
  figure(
    'telemetry: CPU added per request',
    median(telemetry.map((r) => r.full.cpuPerRequest - r.bare.cpuPerRequest)),
    'µs',
    'reported',
    true,
  );
  bare.kill('SIGTERM');
  await new Promise((resolve) => (bare.exitCode !== null ? resolve() : bare.once('exit', resolve)));

  // --- 3. order path -----------------------------------------------------------------------------
  say('order path: POST /api/orders end to end: 100/s open loop, 16 clients closed loop, 200/s open loop');
  const admin = await token({
    grant_type: 'password',
    username: 'admin@lab.local',
    password: 'admin-password',
  });
  const stocked = await json(
    'POST',
    url('gateway', '/api/products'),
    { name: `Bench ${randomUUID()}`, price: 1, stock: 1_000_000 },
    admin,
  );
  const email = `bench-${randomUUID()}@example.com`;
  await json('POST', url('gateway', '/api/users'), { email, password: 'bench-password-1', name: 'Bench' });
  const user = await token({ grant_type: 'password', username: email, password: 'bench-password-1' });
  const orderRequest = () => ({
    method: 'POST',
    headers: {
      authorization: `Bearer ${user}`,
      'content-type': 'application/json',
      'idempotency-key': randomUUID(),
    },
    body: JSON.stringify({ lines: [{ productId: stocked.id, quantity: 1 }] }),
  });
  // Warm-up: the order path's code in five processes runs for the first time here, and until V8 has
  // optimised it an order costs about half as much CPU again (first 10 s at 100/s after 200 orders:
  // 18-19 ms over all processes, 12.5-15 ms from then on), enough to saturate two cores. The figures
  // are for a lab in use, so 1,000 orders at 100/s go first.
  await fixedRate(url('gateway', '/api/orders'), 100, 10, orderRequest);
  const orders100 = await fixedRate(url('gateway', '/api/orders'), 100, SECONDS, orderRequest);
  figure(
    'order path: p99 at 100 orders/s (open loop)',
    orders100.p99,
    'ms',
    '≤ 50 ms',
    orders100.p99 <= 50 && orders100.errors === 0,
    `p50 ${orders100.p50.toFixed(1)}, p95 ${orders100.p95.toFixed(1)}, p99 ${orders100.p99.toFixed(1)} ms; ${orders100.errors} not 201 of ${orders100.count}`,
  );
  const closed = await closedLoop(url('gateway', '/api/orders'), 16, SECONDS, orderRequest);
  figure(
    'order path: 16 clients of our own, closed loop',
    closed.rps,
    'orders/s',
    '≥ 200',
    closed.rps >= 200 && closed.errors === 0,
    `p50 ${closed.p50.toFixed(1)}, p99 ${closed.p99.toFixed(1)} ms; ${closed.errors} not 201 of ${closed.count}`,
  );
  const orders = await fixedRate(url('gateway', '/api/orders'), 200, SECONDS, orderRequest);
  figure(
    'order path: p99 at 200 orders/s',
    orders.p99,
    'ms',
    'reported',
    orders.errors === 0,
    `p50 ${orders.p50.toFixed(1)}, p95 ${orders.p95.toFixed(1)}, p99 ${orders.p99.toFixed(1)} ms; ${orders.errors} not 201 of ${orders.count}`,
  );
  const pids = { ...Object.fromEntries(SERVICES.map((s) => [s, services[s].pid])), store: mongo.pid };
  const cpuBefore = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuMicros(pid)]));
  const orderSat = await saturate(url('gateway', '/api/orders'), SECONDS, orderRequest, 20);
  const cpuPerOrder = Object.entries(pids).map(
    ([name, pid]) => `${name} ${((cpuMicros(pid) - cpuBefore[name]) / 1000 / orderSat.requests).toFixed(1)}`,
  );
  figure(
    'order path: saturation throughput',
    orderSat.rps,
    'orders/s',
    '≥ 250',
    orderSat.rps >= 250 && orderSat.non2xx === 0,
    `${orderSat.non2xx} not 2xx; CPU ms per order: ${cpuPerOrder.join(', ')}`,
  );

  clearInterval(sampler);
  for (const s of SERVICES) {
    figure(
      `footprint: ${s} RSS under load`,
      rss[s].max,
      'MB',
      '≤ 150 MB',
      rss[s].max <= 150,
      `idle ${rss[s].idle.toFixed(0)} MB`,
    );
  }
  for (const child of children) if (child !== receivers.process) child.kill('SIGTERM');
  await sleep(1000);
  Object.assign(results, await receivers.stop());
  say(`the receivers got ${results.spans} spans and ${results.logRecords} log records`);
  rmSync(dataDir, { recursive: true, force: true });
} finally {
  cleanup();
}

printTable();
writeFileSync(join(root, 'docs/performance.json'), `${JSON.stringify(results, null, 2)}\n`);
say(`done in ${((Date.now() - started) / 1000).toFixed(0)} s; docs/performance.json written`);
process.exit(0);

// ---------------------------------------------------------------------------------------------

/** A service as `npm start` runs it: the same Node flags, telemetry preloaded. */
function startService(service, env) {
  return startProcess(`dist/apps/${service}/src/main.js`, [], { ...env, OTEL_SERVICE_NAME: service }, [
    ...SERVICE_NODE_FLAGS,
    '--import',
    join(root, 'dist/libs/telemetry/src/register.js'),
  ]);
}

/**
 * Runs `measure` on each side in turn, ROUNDS times, starting with a different side each round, so
 * drift on the machine falls on both sides alike. Returns one `{ [side]: result }` per round.
 */
async function alternate(sides, measure) {
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    const results = {};
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) results[side[0]] = await measure(side);
    rounds.push(results);
  }
  return rounds;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * The OTLP and Fluentd receivers in a child process (this script with `--receivers`), so decoding
 * spans and log records does not compete with the load generator in this process.
 */
async function startReceivers() {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--receivers'], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const nextLine = async () => {
    const timeout = sleep(20_000, undefined, { ref: false }).then(() => ({ done: true }));
    const { value, done } = await Promise.race([lines.next(), timeout]);
    if (done) throw new Error('the receivers did not answer');
    return JSON.parse(value);
  };
  const { otlpUrl, fluentdPort } = await nextLine();
  return {
    process: child,
    otlpUrl,
    fluentdPort,
    /** Stops them; resolves with what they received. */
    async stop() {
      child.stdin.end();
      return nextLine();
    },
  };
}

/** The child side of {@link startReceivers}: prints its addresses, then its counts when stdin closes. */
async function runReceivers() {
  const otlp = await testing.startOtlpReceiver();
  const fluentd = await testing.startFluentdReceiver();
  console.log(JSON.stringify({ otlpUrl: otlp.url, fluentdPort: fluentd.port }));
  // Counted and let go: hundreds of thousands of kept spans would make this process's GC, and so the
  // load on the cores being measured, grow round after round.
  const counts = { spans: 0, logRecords: 0 };
  const drain = () => {
    counts.spans += otlp.spans.splice(0).length;
    counts.logRecords += fluentd.records.splice(0).length;
    fluentd.chunks.length = 0;
  };
  setInterval(drain, 500);
  process.stdin.resume().on('end', async () => {
    drain();
    await Promise.all([otlp.stop(), fluentd.stop()]);
    console.log(JSON.stringify(counts));
    process.exit(0);
  });
  await new Promise(() => undefined);
}

function startProcess(script, args, env, nodeArgs = []) {
  const child = spawn(process.execPath, [...nodeArgs, join(root, script), ...args], {
    cwd: root,
    env: { ...SERVICE_ENV, ...process.env, ...env },
    stdio: ['ignore', script.includes('embedded-mongo') ? 'pipe' : 'ignore', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** A bare node:http server in a child process answering every request with `body` (JSON). */
async function startLoopbackServer(body) {
  const code = `
    const body = Buffer.from(process.env.BENCH_BODY);
    const server = require('node:http').createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    });
    server.listen(0, '127.0.0.1', () => console.log(server.address().port));
    process.on('SIGTERM', () => process.exit(0));`;
  return startListening('the loopback server', code, { BENCH_BODY: body });
}

/** A bare forwarding proxy (see the hop phase) in a process of its own, in front of `upstream`. */
async function startBareProxy(upstream) {
  const code = `
    const { Agent, request } = require('undici');
    const agent = new Agent({ keepAliveTimeout: 10_000, connections: 256 });
    const server = require('node:http').createServer(async (req, res) => {
      req.resume();
      try {
        const answer = await request(process.env.BENCH_UPSTREAM + req.url.replace(/^\\/api/, ''), {
          method: req.method,
          dispatcher: agent,
        });
        const body = Buffer.from(await answer.body.arrayBuffer());
        res.writeHead(answer.statusCode, {
          'content-type': answer.headers['content-type'] ?? 'application/json',
          'content-length': body.length,
        });
        res.end(body);
      } catch (error) {
        res.writeHead(502).end(String(error));
      }
    });
    server.listen(0, '127.0.0.1', () => console.log(server.address().port));
    process.on('SIGTERM', () => process.exit(0));`;
  return startListening('the bare proxy', code, { BENCH_UPSTREAM: upstream });
}

/** Runs `code` in a Node process of its own (from the repository) and waits for the port it prints. */
async function startListening(what, code, env) {
  const child = spawn(process.execPath, ['-e', code], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start in 10 s`)), 10_000);
    child.stdout.once('data', (chunk) => {
      clearTimeout(timer);
      resolve(Number(String(chunk).trim()));
    });
  });
  return { process: child, url: `http://127.0.0.1:${port}/` };
}

function waitForMongo(child) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('embedded-mongo did not start in 20 s')), 20_000);
    child.stdout.on('data', (chunk) => {
      if (String(chunk).includes('ready on')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

async function json(method, target, body, bearer) {
  const response = await fetch(target, {
    method,
    headers: { 'content-type': 'application/json', ...(bearer && { authorization: `Bearer ${bearer}` }) },
    ...(body && { body: JSON.stringify(body) }),
  });
  if (response.status >= 300)
    throw new Error(`${method} ${target}: ${response.status} ${await response.text()}`);
  return response.json();
}

async function token(form) {
  const response = await fetch(`http://127.0.0.1:${ports.gateway}/api/oauth/token`, {
    method: 'POST',
    body: new URLSearchParams(form),
  });
  if (response.status !== 200) throw new Error(`token: ${response.status} ${await response.text()}`);
  return (await response.json()).access_token;
}

/** Closed-loop saturation with autocannon; `make` gives each request's method, headers and body. */
async function saturate(target, seconds, make, connections = 32) {
  const result = await autocannon({
    url: target,
    connections,
    duration: seconds,
    ...(make && { requests: [{ setupRequest: (req) => ({ ...req, ...make() }) }] }),
  });
  return {
    rps: result.requests.total / seconds,
    requests: result.requests.total,
    non2xx: result.non2xx + result.errors,
  };
}

/**
 * Open-loop load at a fixed rate: each request starts on its schedule whether or not earlier ones
 * answered, and its latency counts from that scheduled time (no coordinated omission).
 */
async function fixedRate(target, perSecond, seconds, make = () => ({ method: 'GET' })) {
  const dispatcher = new Agent({ connections: 64, keepAliveTimeout: 10_000 });
  const total = Math.round(perSecond * seconds);
  const latencies = [];
  let errors = 0;
  const begin = performance.now();
  const inFlight = [];
  for (let i = 0; i < total; i++) {
    const due = begin + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const { method, headers, body } = make();
    inFlight.push(
      request(target, { method, headers, body, dispatcher })
        .then(async (response) => {
          await response.body.dump();
          if (response.statusCode >= 300) errors++;
        })
        .catch(() => errors++)
        .finally(() => latencies.push(performance.now() - due)),
    );
  }
  await Promise.all(inFlight);
  await dispatcher.close();
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return { count: total, errors, p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

/**
 * Closed loop: `clients` clients of our own, each sending its next request when the last one answered
 * (undici, one keep-alive connection each), for `seconds`.
 */
async function closedLoop(target, clients, seconds, make) {
  const dispatcher = new Agent({ connections: clients, keepAliveTimeout: 10_000 });
  const latencies = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const { method, headers, body } = make();
        const start = performance.now();
        try {
          const response = await request(target, { method, headers, body, dispatcher });
          await response.body.dump();
          if (response.statusCode >= 300) errors++;
        } catch {
          errors++;
        }
        latencies.push(performance.now() - start);
      }
    }),
  );
  await dispatcher.close();
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return { rps: latencies.length / seconds, count: latencies.length, errors, p50: at(0.5), p99: at(0.99) };
}

function rssMb(pid) {
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return kb / 1024;
  } catch {
    return 0;
  }
}

/**
 * CPU of the launcher and every process under it (the store, the services), in % of one core over
 * `seconds`, after `settle` seconds: what wakes them when nothing happens.
 */
async function idleCpu(launcherPid, settle, seconds) {
  await sleep(settle * 1000);
  const pids = [launcherPid, ...testing.descendantsOf(launcherPid)];
  const before = new Map(pids.map((pid) => [pid, cpuMicros(pid)]));
  await sleep(seconds * 1000);
  const processes = pids.map((pid) => ({
    name: processName(pid),
    percent: (cpuMicros(pid) - before.get(pid)) / 10_000 / seconds,
    rss: rssMb(pid),
  }));
  return { seconds, processes, total: processes.reduce((sum, p) => sum + p.percent, 0) };
}

function processName(pid) {
  const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const service = args.map((arg) => /apps\/(\w+)\/src\/main\.js$/.exec(arg)?.[1]).find(Boolean);
  if (service) return service;
  if (args.some((arg) => arg.includes('embedded-mongo'))) return 'store';
  if (args.some((arg) => arg.endsWith('scripts/start.mjs'))) return 'launcher';
  return args[1]?.split('/').pop() ?? String(pid);
}

/** User + system CPU time of a process, in µs (Linux /proc). */
function cpuMicros(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1_000_000) / 100;
}

function machine() {
  const cpus = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/gm) ?? [];
  return {
    cpus: cpus.length,
    model: cpus[0]?.split(':')[1]?.trim(),
    node: process.version,
    date: new Date().toISOString(),
  };
}

function format(value) {
  return Number.isFinite(value)
    ? Math.abs(value) >= 100
      ? value.toFixed(0)
      : value.toFixed(2)
    : String(value);
}

function printTable() {
  const rows = results.figures.map((f) => [
    f.name,
    `${format(f.value)} ${f.unit}`,
    f.target,
    f.pass ? 'pass' : 'MISS',
    f.note,
  ]);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length), 6));
  console.log('');
  for (const row of rows)
    console.log(row.map((cell, i) => (i < 4 ? cell.padEnd(widths[i]) : cell)).join('  '));
  console.log('');
}

function run(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit' });
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${args.join(' ')} exited ${code}`)),
    );
  });
}
