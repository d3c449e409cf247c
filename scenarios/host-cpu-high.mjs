// HostCpuHigh: a container outside the lab's services burns every CPU of the host.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const CONTAINER = 'lab-cpu-burn';
/** One busy thread per CPU the container sees (all of the host's: the lab sets no CPU limits), 30 minutes at most. */
const BURN = `const { Worker } = require('node:worker_threads');
const end = Date.now() + 30 * 60 * 1000;
for (let i = 0; i < require('node:os').availableParallelism(); i++)
  new Worker('while (Date.now() < ' + end + ') {}', { eval: true });`;

function docker(args) {
  const result = spawnSync('docker', args, { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0)
    throw new Error(
      `docker ${args.slice(0, 3).join(' ')} … failed: ${(result.stderr || result.error?.message || '').trim()}`,
    );
  return result.stdout.trim();
}

export default {
  name: 'host-cpu-high',
  title: 'A noisy neighbour on the host',
  summary:
    'A container that is not part of the lab keeps every CPU of the host busy: everything slows down at once with no failing dependency; the learner finds the machine, then the container, before blaming a service.',
  touches: ['gateway', 'oauth', 'customer', 'product', 'order'],
  // node-exporter for the host's CPU, cAdvisor to name the container: Compose's.
  requires: ['compose', 'node-exporter', 'cadvisor'],
  traffic: [{ name: 'browse', method: 'GET', path: '/api/products?limit=5', perSecond: 1 }],
  steadyState: {
    quiet: [{ name: 'HostCpuHigh', labels: {} }],
    queries: [{ expr: '100 * (1 - avg(rate(node_cpu_seconds_total{mode="idle"}[5m])))', below: 90 }],
  },
  inject: {
    async run(ctx) {
      // A one-off container of the product image (it has node), without the product service's dependencies.
      docker([
        'compose',
        'run',
        '-d',
        '--rm',
        '--no-deps',
        '--name',
        CONTAINER,
        '--entrypoint',
        'node',
        'product',
        '-e',
        BURN,
      ]);
      ctx.log(`${CONTAINER} started: one busy thread per CPU (docker rm -f ${CONTAINER} stops it)`);
    },
    async undo(ctx) {
      docker(['rm', '-f', CONTAINER]);
      ctx.log(`${CONTAINER} removed`);
    },
  },
  alert: { name: 'HostCpuHigh', labels: {}, within: '13m' },
  runbook: [
    {
      expr: '100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])))',
      culprit: { instance: 'node-exporter:9100' },
    },
    {
      expr: 'topk(5, sum by (name) (rate(container_cpu_usage_seconds_total{name!=""}[5m])))',
      culprit: { name: CONTAINER },
    },
  ],
  symptom: { slowerThanMs: 500 },
  recovery: { within: '7m' },
  docs: {
    inject: `Start a container that keeps every CPU busy (the product image has node; 30 minutes at most):

\`\`\`sh
docker compose run -d --rm --no-deps --name lab-cpu-burn --entrypoint node product -e "
const { Worker } = require('node:worker_threads'); const end = Date.now() + 30 * 60 * 1000;
for (let i = 0; i < require('node:os').availableParallelism(); i++)
  new Worker('while (Date.now() < ' + end + ') {}', { eval: true });"
\`\`\``,
    sees: `Everything gets slower at once, a little or a lot depending on the machine: the services compete for
CPU with the burner, so event loops lag, p95s rise across services, timeouts may follow. No service
fails by itself, and no dependency is slower than its caller.`,
    alerts: `\`HostCpuHigh\` (more than 90% busy for 10 minutes) after 10–11 minutes; possibly \`SlowResponses\` and
\`EventLoopLag\` for several services at the same time, which is the hint: one cause under all of them.`,
    find: `- Grafana → _Host_: CPU by mode, \`user\` near 100%; _Containers_: CPU by container, \`lab-cpu-burn\` on top,
  far above any service of the lab.
- Prometheus: \`100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])))\`, then
  \`topk(5, sum by (name) (rate(container_cpu_usage_seconds_total{name!=""}[5m])))\` names the container.
- \`docker stats\` says the same live; \`docker inspect lab-cpu-burn\` says who started it and with what
  command.`,
    undo: `\`docker rm -f lab-cpu-burn\`. The 5-minute rate needs a few minutes to fall under 90%: the alert resolves
then.`,
  },
};
