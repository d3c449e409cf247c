// Runs a RabbitMQ broker as a child and makes sure it goes when this process goes: `npm start` starts
// it (when rabbitmq-server is installed and AMQP_URL is not set) and the tests start their own brokers
// through it. A broker is an Erlang VM (beam.smp) plus an epmd (port mapper), which this process runs
// itself on the broker's own port (the VM's own would be a daemon, reparented to init). Neither can
// watch its parent, so this small process does: on SIGTERM/SIGINT/SIGHUP, or when its stdin ends (with
// --exit-with-parent: whoever started it is gone, even by SIGKILL), it stops the broker (SIGTERM to its
// process group, a clean shutdown of a few seconds), then its epmd, then exits. The process-group and
// parent helpers are scripts/child-guard.mjs's, which does the same for Prometheus and Alertmanager.
//
//   node scripts/rabbitmq-child.mjs --data-dir DIR --amqp-port N --dist-port N --epmd-port N
//        [--prometheus-port N] [--exit-with-parent]
//
// Prints `rabbitmq ready on amqp://127.0.0.1:N` once the broker accepts connections (about 10 s; more
// on a loaded machine). Everything lives under DIR: the database (mnesia), the Erlang cookie, the config.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { groupAlive, onParentGone, signalGroup } from './child-guard.mjs';

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    'amqp-port': { type: 'string' },
    'dist-port': { type: 'string' },
    'epmd-port': { type: 'string' },
    'prometheus-port': { type: 'string' },
    'exit-with-parent': { type: 'boolean', default: false },
  },
});
const say = (text) => console.log(`[rabbitmq] ${text}`);
const port = (name) => {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    console.error(`[rabbitmq] --${name} must be a port number`);
    process.exit(2);
  }
  return value;
};
if (!values['data-dir']) {
  console.error('[rabbitmq] --data-dir is required');
  process.exit(2);
}
const dir = resolve(values['data-dir']);
const amqpPort = port('amqp-port');
const distPort = port('dist-port');
const epmdPort = port('epmd-port');
const prometheusPort = values['prometheus-port'] ? port('prometheus-port') : undefined;
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 20_000;

/** The broker's own start script, run as the current user (Debian's /usr/sbin wrapper switches to the rabbitmq user). */
function rabbitmqServerScript() {
  for (const candidate of [
    '/usr/lib/rabbitmq/bin/rabbitmq-server',
    '/opt/homebrew/sbin/rabbitmq-server',
    '/usr/local/sbin/rabbitmq-server',
  ]) {
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

const script = rabbitmqServerScript();
if (!script) {
  console.error(
    '[rabbitmq] rabbitmq-server is not installed (Debian/Ubuntu: apt install rabbitmq-server; macOS: brew install rabbitmq)',
  );
  process.exit(3);
}

mkdirSync(join(dir, 'home'), { recursive: true });
writeFileSync(
  join(dir, 'rabbitmq.conf'),
  [
    `listeners.tcp.default = 127.0.0.1:${amqpPort}`,
    'loopback_users = none',
    'log.console = true',
    'log.console.level = warning',
    'log.file = false',
    // A lab broker: a small share of the machine's memory, and no refusal on a nearly full disk of /tmp.
    'vm_memory_high_watermark.relative = 0.2',
    'disk_free_limit.absolute = 50MB',
    ...(prometheusPort ? [`prometheus.tcp.port = ${prometheusPort}`, 'prometheus.tcp.ip = 127.0.0.1'] : []),
    '',
  ].join('\n'),
);
// What `rabbitmq-plugins --offline enable rabbitmq_prometheus` writes (without booting a VM for it).
writeFileSync(join(dir, 'enabled_plugins'), prometheusPort ? '[rabbitmq_prometheus].\n' : '[].\n');

const env = {
  ...process.env,
  HOME: join(dir, 'home'), // the Erlang cookie
  RABBITMQ_NODENAME: `lab-${amqpPort}@localhost`,
  RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
  RABBITMQ_NODE_PORT: String(amqpPort),
  RABBITMQ_DIST_PORT: String(distPort),
  ERL_EPMD_PORT: String(epmdPort),
  ERL_EPMD_ADDRESS: '127.0.0.1',
  RABBITMQ_BASE: dir,
  RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
  RABBITMQ_LOG_BASE: join(dir, 'log'),
  RABBITMQ_LOGS: '-',
  RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
  RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
  RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
  RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
  RABBITMQ_PID_FILE: join(dir, 'beam.pid'),
};

let stopping = false;
// epmd (the Erlang port mapper) as our own child rather than the daemon the VM would start: a daemon
// is reparented to init, and nothing would stop it if this process were killed before it could.
const epmdCommand = [
  '/usr/bin/epmd',
  '/usr/lib/erlang/bin/epmd',
  '/opt/homebrew/bin/epmd',
  '/usr/local/bin/epmd',
].find((path) => existsSync(path));
const epmd = epmdCommand
  ? spawn(epmdCommand, ['-port', String(epmdPort), '-address', '127.0.0.1'], { env, stdio: 'ignore' })
  : undefined;
if (epmd) {
  epmd.on('error', () => undefined);
  for (let i = 0; i < 40 && !(await accepts(epmdPort)); i++)
    await new Promise((done) => setTimeout(done, 50));
}
// A process group of its own: the start script, the VM and its helpers get every signal together.
const broker = spawn(script, [], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
broker.stdout.on('data', (chunk) => process.stdout.write(chunk));
broker.stderr.on('data', (chunk) => process.stderr.write(chunk));
broker.on('exit', async (code, signal) => {
  if (!stopping) say(`broker exited (${signal ?? `code ${code}`})`);
  const failed = !stopping;
  stopping = true;
  // The start script may end before the VM it started: wait for the whole group.
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (groupAlive(broker.pid) && Date.now() < deadline) await new Promise((done) => setTimeout(done, 100));
  if (groupAlive(broker.pid)) signalGroup(broker.pid, 'SIGKILL');
  killEpmd();
  process.exit(failed ? 1 : 0);
});

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => stop(signal));
if (values['exit-with-parent']) onParentGone(() => stop('parent gone'));

const started = Date.now();
while (!stopping && Date.now() - started < READY_TIMEOUT_MS) {
  if (await accepts(amqpPort)) {
    say(
      `ready on amqp://127.0.0.1:${amqpPort} in ${((Date.now() - started) / 1000).toFixed(1)} s (pid ${beamPid() ?? broker.pid}, epmd port ${epmdPort}, data in ${dir})`,
    );
    break;
  }
  await new Promise((done) => setTimeout(done, 250));
}
if (!stopping && Date.now() - started >= READY_TIMEOUT_MS) {
  say(`not ready within ${READY_TIMEOUT_MS / 1000} s`);
  stop('start-up timed out');
}

function accepts(target) {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port: target });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

/** The Erlang VM's pid: the start script does not exec it, and a signal to the script would not reach it. */
function beamPid() {
  try {
    const pid = Number(readFileSync(env.RABBITMQ_PID_FILE, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function killEpmd() {
  if (epmd) {
    epmd.kill('SIGKILL');
    return;
  }
  // No epmd binary found to run ourselves: the VM started the daemon on our port.
  spawnSync('epmd', ['-kill'], { env, stdio: 'ignore', timeout: 5000 });
}

/** SIGTERM to the broker's group: the VM shuts down cleanly (a few seconds); the exit handler does the rest. */
function stop(reason) {
  if (stopping) return;
  stopping = true;
  say(`${reason}: stopping the broker`);
  signalGroup(broker.pid, 'SIGTERM');
  setTimeout(() => signalGroup(broker.pid, 'SIGKILL'), STOP_TIMEOUT_MS).unref();
}
