// Makes sure the command-line tools the infrastructure tests run are installed: promtool and the
// Prometheus server (Debian package prometheus), amtool and Alertmanager (prometheus-alertmanager),
// docker-compose 1.29 (docker-compose), headless Chromium for the Swagger UI test (chromium), RabbitMQ for the order events'
// specs (rabbitmq-server, run as plain foreground processes by the tests). Missing ones are installed with apt-get when running as root;
// otherwise it names the packages to install and exits 1. `npm test` runs it first.
//
// Debian starts a package's daemon when it is installed; the tests start their own Prometheus and
// Alertmanager on free ports, so a policy-rc.d forbids that during the install, and any daemon the
// install started anyway is stopped (only processes that were not running before).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';

/** command → Debian package that provides it. */
const TOOLS = [
  { command: 'promtool', pkg: 'prometheus' },
  { command: 'prometheus', pkg: 'prometheus' },
  { command: 'amtool', pkg: 'prometheus-alertmanager' },
  { command: 'prometheus-alertmanager', pkg: 'prometheus-alertmanager' },
  { command: 'docker-compose', pkg: 'docker-compose' },
  { command: 'chromium', pkg: 'chromium' },
  // The order events' e2e specs start brokers of their own (libs/testing startRabbitMq).
  { command: '/usr/lib/rabbitmq/bin/rabbitmq-server', pkg: 'rabbitmq-server' },
];
/** Daemons those packages may start (RabbitMQ: its Erlang VM and epmd, whatever the Erlang version). */
const DAEMONS = ['/usr/bin/prometheus', '/usr/bin/prometheus-alertmanager'];
const isDaemon = (exe) => DAEMONS.includes(exe) || /\/erts-[^/]+\/bin\/(?:beam\.smp|epmd)$/.test(exe);
const POLICY_RC = '/usr/sbin/policy-rc.d';

const has = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
const say = (text) => console.log(`[infra-tools] ${text}`);

const missing = TOOLS.filter(({ command }) => !has(command));
const packages = [...new Set(missing.map(({ pkg }) => pkg))];
if (packages.length === 0) process.exit(0);

const needed = `${missing.map(({ command }) => command).join(', ')} (Debian/Ubuntu packages: ${packages.join(' ')})`;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (!isRoot || !has('apt-get')) {
  console.error(
    `[infra-tools] missing ${needed}.\n` +
      `  Install them, e.g. \`sudo apt-get install -y --no-install-recommends ${packages.join(' ')}\`,\n` +
      '  or get promtool/prometheus from https://prometheus.io/download/ and amtool/alertmanager from the same page.',
  );
  process.exit(1);
}

say(`installing ${needed} with apt-get (about 15 s, a minute with Chromium)…`);
const before = new Set(daemonPids());
const ownPolicy = !existsSync(POLICY_RC);
// Exit status 101: "action forbidden" for every invoke-rc.d call, so postinst starts nothing.
if (ownPolicy) writeFileSync(POLICY_RC, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
let failure;
try {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-qq'],
    ['install', '-y', '-qq', '--no-install-recommends', ...packages],
  ]) {
    const result = spawnSync('apt-get', args, { env, encoding: 'utf8', timeout: 300_000 });
    if (result.status !== 0) {
      failure = `apt-get ${args[0]} failed (${result.error?.message ?? `exit ${result.status}`}):\n${result.stderr ?? ''}`;
      break;
    }
  }
} finally {
  if (ownPolicy) rmSync(POLICY_RC, { force: true });
  stopNewDaemons(before);
}

const stillMissing = TOOLS.filter(({ command }) => !has(command));
if (failure || stillMissing.length > 0) {
  console.error(
    `[infra-tools] ${failure ?? `still missing after the install: ${stillMissing.map(({ command }) => command).join(', ')}`}\n` +
      `  Install ${packages.join(' ')} yourself (apt-get install -y --no-install-recommends ${packages.join(' ')}).`,
  );
  process.exit(1);
}
say(`installed ${packages.join(' ')}`);

/** Pids of running Prometheus/Alertmanager daemons from the Debian packages (Linux /proc). */
function daemonPids() {
  if (!existsSync('/proc')) return [];
  const pids = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (isDaemon(readlinkSync(`/proc/${entry}/exe`))) pids.push(Number(entry));
    } catch {
      // exited, or not ours to read
    }
  }
  return pids;
}

/** Stops the daemons the install started despite the policy (e.g. through systemd), not older ones. */
function stopNewDaemons(before) {
  // Only units of packages this run installed: they cannot have been running before.
  const units = packages.filter((pkg) => pkg.startsWith('prometheus') || pkg === 'rabbitmq-server');
  if (units.length > 0 && has('systemctl'))
    spawnSync('systemctl', ['stop', ...units], { stdio: 'ignore', timeout: 30_000 });
  const started = daemonPids().filter((pid) => !before.has(pid));
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  if (started.length > 0)
    say(`stopped ${started.length} daemon(s) the packages started (pids ${started.join(', ')})`);
}
