// ContainerRestarting: the order service is killed for memory three times; Docker restarts it each time.
import { setTimeout as sleep } from 'node:timers/promises';
import { switchFault } from '../scripts/chaos.mjs';

const SERVICE = 'order';
/** Above the 256 MiB mem_limit of every service in Compose: the kernel kills the process while it allocates. */
const MEMORY_MB = 400;
const KILLS = 3;

/** Waits until the service answers its fault switch again (restarted by Docker and ready), 2 minutes at most. */
async function untilBack(ctx) {
  for (let i = 0; i < 120; i++) {
    try {
      await switchFault(ctx.gateway, ctx.clientSecret, { service: SERVICE, method: 'GET' });
      return;
    } catch {
      await sleep(1000, undefined, { signal: ctx.signal });
    }
  }
  throw new Error(`${SERVICE} did not come back within 2 minutes: docker compose ps ${SERVICE}`);
}

export default {
  name: 'container-restarting',
  title: 'A container killed for memory, again and again',
  summary:
    'The order service allocates more memory than its container may have: the kernel kills it, Docker restarts it, three times; the learner sees a crash loop from the outside (restarts, OOMKilled) and from the inside (what it did just before).',
  touches: ['order', 'gateway'], // the gateway answers 502/503 for order while it restarts
  requires: ['compose', 'cadvisor'],
  traffic: [{ name: 'orders-list', method: 'GET', path: '/api/orders?limit=5', perSecond: 1, auth: 'user' }],
  steadyState: { quiet: ['ContainerRestarting'] },
  inject: {
    async run(ctx) {
      for (let kill = 1; kill <= KILLS; kill++) {
        try {
          // The allocation never finishes: the answer is the gateway's 502/503 for a process that died.
          await switchFault(ctx.gateway, ctx.clientSecret, {
            service: SERVICE,
            method: 'PUT',
            body: { memoryMb: MEMORY_MB },
          });
        } catch {
          // expected
        }
        ctx.log(
          `${SERVICE} asked to hold ${MEMORY_MB} MiB (kill ${kill} of ${KILLS}); waiting for Docker to restart it`,
        );
        await sleep(3000, undefined, { signal: ctx.signal });
        await untilBack(ctx);
      }
    },
    async undo(ctx) {
      // A restarted process starts without faults; this only makes sure, if the run was interrupted.
      await untilBack(ctx);
      await switchFault(ctx.gateway, ctx.clientSecret, {
        service: SERVICE,
        method: 'PUT',
        body: { memoryMb: 0 },
      });
    },
  },
  alert: { name: 'ContainerRestarting', labels: { service: SERVICE }, within: '6m' },
  alsoFires: [{ name: 'ServiceDown', labels: { service: SERVICE } }],
  runbook: [
    {
      expr: 'topk(3, sum by (container_label_com_docker_compose_service) (resets(container_cpu_usage_seconds_total{name!=""}[15m])))',
      culprit: { container_label_com_docker_compose_service: SERVICE },
    },
  ],
  symptom: { status: '5xx' },
  recovery: { within: '17m' },
  docs: {
    inject: `Three times, a minute apart: \`npm run chaos -- order memory 400\`. The order container may use 256 MiB
(\`mem_limit\`): the kernel kills the process while it allocates (the command gets a 502 or 503 from the
gateway), Docker's restart policy (\`unless-stopped\`) starts a fresh one, without the fault.`,
    sees: `Each time, for the ten to twenty seconds the order service needs to start: orders and order lists fail
(503 from the gateway, then \`circuit_open\` while its breaker to order is open), the rest of the lab works.
Between the kills everything is normal, which is what makes a crash loop easy to miss.`,
    alerts: `\`ContainerRestarting\` (order, at least 2 restarts in 15 minutes) at the evaluation after the second
restart; \`ServiceDown\` (order) during each restart if it lasts over 30 s. It resolves when the restarts
leave its 15-minute window.`,
    find: `- \`docker compose ps order\`: its uptime is seconds; \`docker inspect --format '{{.RestartCount}}
  {{.State.OOMKilled}} {{.State.ExitCode}}' $(docker compose ps -q order)\`: \`OOMKilled=true\`, exit code 137.
- Grafana → _Containers_: order's memory climbs to the limit and drops to zero, three times; its CPU
  counter starts again each time (what the alert counts).
- Kibana → \`service : "order" and context : "Bootstrap"\`: a start-up per restart and no shutdown line
  before it (killed, not stopped); \`message : "fault injection changed"\` just before each one says what
  asked for the memory.`,
    undo: `Nothing to undo: each restart comes without the fault. The alert resolves 15 minutes after the last
restart.`,
  },
};
