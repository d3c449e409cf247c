// `npm start`: builds if needed, starts the embedded MongoDB-compatible store (unless MONGO_URL is
// set), a RabbitMQ broker for the order events (unless AMQP_URL is set, or `none`; only when
// rabbitmq-server is installed: without it the lab runs without events and says so) and the five services as separate processes with prefixed output, prints the URLs once every
// service is ready, and stops everything on Ctrl-C / SIGTERM / SIGHUP: the services first, then the store.
// The environment (and a `.env.local` file, if present) reaches every service. `npm start -- order product`
// starts only the services named.
//
// No child outlives the launcher, however it ends. Each child runs in a process group of its own, so a
// terminal's Ctrl-C or hang-up reaches only the launcher, which stops them in order; and each gets
// `--exit-with-parent` with a stdin pipe the launcher never writes: the kernel closes it when the launcher
// dies, even by SIGKILL, and the child then shuts down as on SIGTERM. The broker (an Erlang VM and its
// epmd) cannot watch a pipe: scripts/rabbitmq-child.mjs does it for them, and stops both.
//
// Alerts without Docker: when prometheus and prometheus-alertmanager (Homebrew: alertmanager) are installed
// and LAB_MONITORING is not `off`, Prometheus, Alertmanager and the alert-webhook run beside the services,
// configured by scripts/monitoring.mjs from infra/ (the Compose stack's jobs, rules and routes), with their
// data in MONITORING_DATA_DIR. They start once the services are ready: they never hold up "ready". The
// two binaries run under scripts/child-guard.mjs, which stops them when the launcher goes, as the
// broker's wrapper does.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  ALERTMANAGER_COMMANDS,
  alertmanagerArgs,
  findCommand,
  INSTALL_HINT,
  monitoringTargets,
  PROMETHEUS_COMMANDS,
  prometheusArgs,
  writeMonitoringConfig,
} from './monitoring.mjs';
import { loadLocalEnvOrExit } from './local-env.mjs';
import { SERVICE_ENV, SERVICE_NODE_FLAGS } from './service-flags.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code, text) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
const COLORS = {
  launcher: 1,
  mongo: 90,
  rabbitmq: 95,
  gateway: 36,
  oauth: 35,
  customer: 32,
  product: 33,
  order: 34,
  prometheus: 91,
  alertmanager: 93,
  'alert-webhook': 96,
};
const MONITORING_READY_TIMEOUT_MS = 60_000;
/** Where Debian/Ubuntu (apt install rabbitmq-server) and Homebrew (brew install rabbitmq) put the broker's start script. */
const RABBITMQ_SCRIPTS = [
  '/usr/lib/rabbitmq/bin/rabbitmq-server',
  '/opt/homebrew/sbin/rabbitmq-server',
  '/usr/local/sbin/rabbitmq-server',
];
const BROKER_READY_TIMEOUT_MS = 90_000;
const say = (text) => console.log(`${paint(COLORS.launcher, '[launcher]')} ${text}`);

if (Number(process.versions.node.split('.')[0]) < 22) {
  console.error(
    `Node ${process.version} is too old: the lab needs Node 22 or newer. Run it with "npm start", which uses the Node 22 installed by "npm install".`,
  );
  process.exit(1);
}
const USAGE = `usage: npm start [-- <service>...]
  builds if needed, then runs the store, the broker (when rabbitmq-server is installed), the five services
  or those named (gateway, oauth, customer, product, order), and Prometheus and Alertmanager when they are
  installed; Ctrl-C stops everything. Settings: the environment, then .env.local (see .env.example).`;
// Before the build: a question or a typo is answered at once.
const startArgs = process.argv.slice(2);
if (startArgs.includes('--help') || startArgs.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}
const startOption = startArgs.find((arg) => arg.startsWith('-'));
if (startOption) {
  console.error(`unknown option ${startOption}\n${USAGE}`);
  process.exit(2);
}

// .env.local: your own settings (see .env.example); .env belongs to Docker Compose.
loadLocalEnvOrExit();

await run(process.execPath, [join(root, 'scripts/build.mjs')], 'build');
const { loadConfig, ConfigError, SERVICE_NAMES } = await import('#lab/config');

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !SERVICE_NAMES.includes(name));
if (unknown.length > 0) {
  console.error(`Unknown service ${unknown.join(', ')}: choose from ${SERVICE_NAMES.join(', ')}`);
  process.exit(1);
}
let configs;
try {
  configs = SERVICE_NAMES.filter((s) => wanted.length === 0 || wanted.includes(s)).map((service) =>
    loadConfig(service, process.env),
  );
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}

const started = Date.now();
const children = new Map(); // name -> ChildProcess
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => stopAll(signal));
// `npm start` runs this file under npm (and a shell). Killed with SIGKILL, they take no one with them and
// this launcher is handed to another parent: that is the moment to stop, as on SIGTERM.
const parentAtStart = process.ppid;
setInterval(() => {
  if (process.ppid !== parentAtStart) stopAll('npm start was killed');
}, 1000).unref();
// After a hang-up the terminal is gone: writing to it fails (EIO/EPIPE), which must not end the launcher
// before it has stopped its children.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

const env = { ...process.env };
// Whether Prometheus, Alertmanager and the webhook run (decided first: the broker then enables its metrics).
const monitoring = await planMonitoring();
// The broker first: it takes about 10 s, while the store and the services start.
const broker = startBroker();
let mongoNote = `${env.MONGO_URL} (MONGO_URL)`;
if (!configs[0].mongo.url) {
  const { port, dataDir } = configs[0].embeddedMongo;
  // The services' malloc settings (service-flags.mjs) suit the store too: about 10 MB less at idle.
  const mongo = startChild(
    'mongo',
    [
      join(root, 'dist/libs/embedded-mongo/src/cli.js'),
      '--port',
      String(port),
      '--data-dir',
      resolve(root, dataDir),
    ],
    { env: { ...SERVICE_ENV, ...env } },
  );
  env.MONGO_URL = await new Promise((resolve, reject) => {
    let lastLine = '';
    mongo.on('line', (line) => {
      const match = /ready on (mongodb:\/\/\S+)/.exec(line);
      if (match) resolve(match[1]);
      else lastLine = line;
    });
    // Its last line says why (e.g. which pid holds the port or the data directory).
    mongo.on('exit', () =>
      reject(new Error(`the embedded MongoDB store did not start${lastLine ? `: ${lastLine}` : ''}`)),
    );
  }).catch((error) => fail(error.message));
  mongoNote = `${env.MONGO_URL} (embedded, data in ${dataDir})`;
}

// The services get the broker's address (its ports are picked before they start).
await broker.started;

// OpenTelemetry starts before each service (preload); it exports only where the OTEL_* variables point.
const telemetry = join(root, 'dist/libs/telemetry/src/register.js');
for (const config of configs) {
  if (stopping) await new Promise(() => {}); // stopped while the store started: start nothing more
  const args = [
    ...SERVICE_NODE_FLAGS,
    '--import',
    telemetry,
    join(root, `dist/apps/${config.service}/src/main.js`),
  ];
  startChild(config.service, args, { env: { ...SERVICE_ENV, ...env, OTEL_SERVICE_NAME: config.service } });
}
const servicesReady = Promise.all(configs.map((config) => waitReady(config)));
// Once the services (and the broker) are ready: they get the CPU first, and a slow start-up fires no
// ServiceDown. The lab is usable before Prometheus is.
const monitoringReady = startMonitoring(Promise.all([servicesReady, broker.ready])).catch((error) =>
  paint(31, `monitoring did not start: ${error.message}`),
);

await servicesReady.catch((error) => fail(error.message));
const amqpNote = await broker.ready;
const width = Math.max(
  ...configs.map((c) => c.service.length),
  ...monitoring.lines.map(([name]) => name.length),
);
say(`all ${configs.length} services ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
for (const config of configs) {
  const url = `http://${displayHost(config.host)}:${config.port}`;
  say(
    `  ${config.service.padEnd(width)}  ${url}${config.service === 'gateway' ? '   <- public entry point' : ''}`,
  );
}
say(`  ${'mongo'.padEnd(width)}  ${mongoNote}`);
say(`  ${'rabbitmq'.padEnd(width)}  ${amqpNote}`);
for (const [name, note] of monitoring.lines) say(`  ${name.padEnd(width)}  ${note}`);
say('press Ctrl-C to stop');
monitoringReady.then((line) => line && !stopping && say(line));

/**
 * Whether Prometheus, Alertmanager and the alert-webhook run (LAB_MONITORING: auto, on or off; both
 * binaries installed; their ports free), and the summary lines for them. With `on`, anything missing
 * ends start-up here, before anything has started.
 */
async function planMonitoring() {
  const settings = configs[0].monitoring;
  // Said once when it happens; the summary then has a short note.
  const skip = (problem, fix, note) => {
    if (settings.mode === 'on') {
      console.error(`LAB_MONITORING=on, but ${problem}: ${fix}`);
      process.exit(1);
    }
    say(paint(33, `${problem}: running without Prometheus and Alertmanager (no alerts); ${fix}`));
    return { run: false, settings, lines: [['monitoring', note]] };
  };
  if (settings.mode === 'off')
    return { run: false, settings, lines: [['monitoring', 'off (LAB_MONITORING=off): no alerts']] };
  const prometheus = findCommand(PROMETHEUS_COMMANDS);
  const alertmanager = findCommand(ALERTMANAGER_COMMANDS);
  if (!prometheus || !alertmanager) {
    const missing = [!prometheus && 'prometheus', !alertmanager && 'alertmanager']
      .filter(Boolean)
      .join(' and ');
    return skip(
      `${missing} not installed`,
      `to have them: ${INSTALL_HINT}`,
      `none (${missing} not installed)`,
    );
  }
  for (const [variable, port, system] of [
    ['PROMETHEUS_PORT', settings.prometheusPort, 'prometheus'],
    ['ALERTMANAGER_PORT', settings.alertmanagerPort, 'prometheus-alertmanager'],
    ['ALERT_WEBHOOK_PORT', settings.alertWebhookPort, undefined],
  ]) {
    if (await portIsFree(port)) continue;
    const holder = await portHolderOf(port);
    const by = holder ? ` by pid ${holder.pid} (${holder.command.replace(/\s+/g, ' ').slice(0, 100)})` : '';
    const service = system ? ` (the system's ${system} service? sudo systemctl disable --now ${system})` : '';
    return skip(
      `${variable} ${port} is taken${by}${service}`,
      `set ${variable} to a free port, or LAB_MONITORING=off`,
      `not started: ${variable} ${port} is taken (see above)`,
    );
  }
  const url = (port) => `http://127.0.0.1:${port}`;
  return {
    run: true,
    settings,
    prometheus,
    alertmanager,
    lines: [
      [
        'prometheus',
        `${url(settings.prometheusPort)}   (alerts: ${url(settings.prometheusPort)}/alerts; every ${settings.intervalSeconds}s)`,
      ],
      ['alertmanager', url(settings.alertmanagerPort)],
      ['alert-webhook', `${url(settings.alertWebhookPort)}/alerts`],
    ],
  };
}

/**
 * Once `labReady` resolves: writes the monitoring configuration, starts the alert-webhook, Alertmanager and
 * Prometheus (the binaries under child-guard); resolves with the line to print once all three are ready
 * (or why not).
 */
async function startMonitoring(labReady) {
  if (!monitoring.run) return undefined;
  const { settings } = monitoring;
  const dataDir = resolve(root, settings.dataDir);
  const intervalMs = settings.intervalSeconds * 1000;
  const address = (port) => `127.0.0.1:${port}`;
  const webhookUrl = `http://${address(settings.alertWebhookPort)}`;
  // Not before the services are ready: on a busy machine they would compete for the CPU.
  try {
    await labReady;
  } catch {
    return undefined; // start-up failed: everything stops
  }
  if (stopping) return undefined;
  const began = Date.now();
  const token = env.ALERT_WEBHOOK_TOKEN?.trim() || randomBytes(24).toString('base64url');
  const rabbitmq = (await broker.started)?.metricsPort;
  const files = writeMonitoringConfig({
    dir: join(dataDir, 'config'),
    intervalMs,
    token,
    webhookUrl,
    targets: monitoringTargets({
      services: Object.fromEntries(configs.map((c) => [c.service, `${displayHost(c.host)}:${c.port}`])),
      prometheus: address(settings.prometheusPort),
      alertmanager: address(settings.alertmanagerPort),
      alertWebhook: address(settings.alertWebhookPort),
      rabbitmq: rabbitmq && address(rabbitmq),
    }),
  });
  startChild('alert-webhook', [join(root, 'dist/apps/alert-webhook/src/main.js')], {
    env: {
      ...env,
      HOST: '127.0.0.1',
      ALERT_WEBHOOK_PORT: String(settings.alertWebhookPort),
      ALERT_WEBHOOK_TOKEN: token,
    },
  });
  const guard = [join(root, 'scripts/child-guard.mjs'), '--'];
  startChild('alertmanager', [
    ...guard,
    monitoring.alertmanager,
    ...alertmanagerArgs({
      configFile: files.alertmanagerFile,
      dataDir: join(dataDir, 'alertmanager'),
      port: settings.alertmanagerPort,
    }),
    '--log.level=warn',
  ]);
  startChild('prometheus', [
    ...guard,
    monitoring.prometheus,
    ...prometheusArgs({
      configFile: files.prometheusFile,
      dataDir: join(dataDir, 'prometheus'),
      port: settings.prometheusPort,
      intervalMs,
    }),
    '--log.level=warn',
  ]);
  const waits = [
    ['alert-webhook', `${webhookUrl}/health/ready`],
    ['alertmanager', `http://${address(settings.alertmanagerPort)}/-/ready`],
    ['prometheus', `http://${address(settings.prometheusPort)}/-/ready`],
  ].map(([name, url]) => waitHttp(name, url, MONITORING_READY_TIMEOUT_MS));
  try {
    await Promise.all(waits);
  } catch (error) {
    return paint(33, `monitoring: ${error.message}`);
  }
  return `monitoring ready in ${((Date.now() - began) / 1000).toFixed(1)} s: Prometheus scrapes ${files.kept.join(', ')} every ${settings.intervalSeconds}s (left out, not run here: ${files.left.join(', ')})`;
}

/**
 * AMQP_URL as given, `none` (no events), or a broker of our own on free ports with its data in
 * .data/rabbitmq when rabbitmq-server is installed; else the lab runs without events. Sets env.AMQP_URL
 * for the services; `ready` resolves with the line the launcher prints for it.
 */
function startBroker() {
  const given = env.AMQP_URL?.trim();
  if (!configs.some(({ service }) => service === 'order' || service === 'customer'))
    return { ready: Promise.resolve('not needed (neither order nor customer runs)') };
  if (given === 'none')
    return { ready: Promise.resolve('none (AMQP_URL=none): the lab runs without events') };
  if (given) return { ready: Promise.resolve(`${given.replace(/\/\/[^@/]*@/, '//…@')} (AMQP_URL)`) };
  if (!RABBITMQ_SCRIPTS.some((path) => existsSync(path))) {
    env.AMQP_URL = 'none';
    say(
      'no RabbitMQ: running without order events (profiles answer orders: null); to have them: sudo apt install rabbitmq-server (macOS: brew install rabbitmq)',
    );
    return { ready: Promise.resolve('none (rabbitmq-server is not installed): the lab runs without events') };
  }
  const dataDir = resolve(root, configs[0].events.brokerDataDir);
  const ready = (async () => {
    const [amqpPort, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()];
    // RabbitMQ's Prometheus plugin only when a Prometheus scrapes it (jobs rabbitmq, rabbitmq-queues).
    const metricsPort = monitoring.run ? await freePort() : undefined;
    const url = `amqp://127.0.0.1:${amqpPort}`;
    env.AMQP_URL = url;
    const child = startChild('rabbitmq', [
      join(root, 'scripts/rabbitmq-child.mjs'),
      '--data-dir',
      dataDir,
      '--amqp-port',
      String(amqpPort),
      '--dist-port',
      String(distPort),
      '--epmd-port',
      String(epmdPort),
      ...(metricsPort ? ['--prometheus-port', String(metricsPort)] : []),
    ]);
    return { child, url, metricsPort };
  })();
  return {
    started: ready,
    ready: ready.then(
      ({ child, url }) =>
        new Promise((done) => {
          const timer = setTimeout(
            () =>
              done(`${url} (not ready after ${BROKER_READY_TIMEOUT_MS / 1000} s: the services keep trying)`),
            BROKER_READY_TIMEOUT_MS,
          );
          child.on('line', (line) => {
            if (!/\[rabbitmq\] ready on /.test(line)) return;
            clearTimeout(timer);
            done(`${url} (started here, data in ${configs[0].events.brokerDataDir})`);
          });
          child.on('exit', () => {
            clearTimeout(timer);
            done(`${url} (the broker exited: the lab runs without events; see its lines above)`);
          });
        }),
    ),
  };
}

/** Whether a listener can bind 127.0.0.1:`port` now. */
function portIsFree(port) {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

/** Who listens on `port` (Linux, processes of this user), through the store's own lookup. */
async function portHolderOf(port) {
  try {
    const { portHolder } = await import(
      pathToFileURL(join(root, 'dist/libs/embedded-mongo/src/data-dir-lock.js')).href
    );
    return portHolder(port);
  } catch {
    return undefined;
  }
}

/** Polls `url` until it answers 200; rejects naming `name` when it exits or the time is up. */
async function waitHttp(name, url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !stopping) {
    if (!children.has(name)) throw new Error(`${name} exited before it was ready (see its lines above)`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((done) => setTimeout(done, 200));
  }
  if (!stopping) throw new Error(`${name} was not ready at ${url} within ${timeoutMs / 1000} s`);
}

/** A port on 127.0.0.1 nothing listens on now. */
function freePort() {
  return new Promise((done, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

function displayHost(host) {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
}

function startChild(name, args, { env: childEnv = process.env } = {}) {
  // Before a `--`: what follows it is the command line of a program run by child-guard.
  const split = args.indexOf('--');
  const flagged =
    split < 0
      ? [...args, '--exit-with-parent']
      : [...args.slice(0, split), '--exit-with-parent', ...args.slice(split)];
  const child = spawn(process.execPath, flagged, {
    cwd: root,
    env: childEnv,
    stdio: ['pipe', 'pipe', 'pipe'], // stdin: never written, it only ends when the launcher does
    detached: true, // a group of its own: the terminal's signals reach the launcher only
  });
  const prefix = paint(COLORS[name] ?? 0, `[${name.padEnd(8)}]`);
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      console.log(`${prefix} ${line}`);
      child.emit('line', line);
    });
  }
  child.on('exit', (code, signal) => {
    children.delete(name);
    if (!stopping) say(`${name} exited (${signal ?? `code ${code}`}); the others keep running`);
    if (children.size === 0 && stopping) process.exit(process.exitCode ?? 0);
  });
  children.set(name, child);
  return child;
}

async function waitReady(config) {
  const url = `http://${displayHost(config.host)}:${config.port}/health/ready`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!children.has(config.service)) throw new Error(`${config.service} exited before it was ready`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error(`${config.service} was not ready at ${url} within ${READY_TIMEOUT_MS / 1000} s`);
}

/** Stops everything and never resolves, so start-up goes no further. */
function fail(message) {
  say(paint(31, `start-up failed: ${message}`));
  process.exitCode = 1;
  stopAll('start-up failed');
  return new Promise(() => {});
}

async function stopAll(reason) {
  if (stopping) return;
  stopping = true;
  say(`${reason}: stopping the services, then the store and the broker`);
  const services = [...children].filter(([name]) => name !== 'mongo' && name !== 'rabbitmq');
  await Promise.all(services.map(([, child]) => stopChild(child)));
  await Promise.all(
    ['mongo', 'rabbitmq']
      .map((name) => children.get(name))
      .filter(Boolean)
      .map(stopChild),
  );
  process.exit(process.exitCode ?? 0);
}

function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function run(command, args, name) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: 'inherit' });
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${name} failed with code ${code}`)),
    );
  });
}
