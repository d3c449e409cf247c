// HighMemory: the customer service holds memory it never gives back, up to just under its container's limit.
import { switchFault } from '../scripts/chaos.mjs';

const SERVICE = 'customer';
const MIB = 1024 * 1024;
/** Where the fault takes the service's resident memory: above the alert's 230 MiB, under Compose's 256 MiB limit. */
const TARGET_MIB = 242;

/** What the fault holds, so the undo can say what it freed. */
const held = { mb: 0 };

export default {
  name: 'high-memory',
  title: 'Memory held by the customer service',
  summary:
    "The customer service allocates memory and keeps it, close to its container's limit: nothing fails yet, and the learner finds which service, and that it is buffers, not JavaScript objects, before the out-of-memory killer does.",
  touches: ['customer'],
  traffic: [
    { name: 'profile', method: 'GET', path: '/api/customers/me', perSecond: 2, auth: 'user' },
    { name: 'browse', method: 'GET', path: '/api/products?limit=5', perSecond: 1 },
  ],
  steadyState: {
    queries: [{ expr: `max(process_resident_memory_bytes{service="${SERVICE}"})`, below: 230 * MIB }],
  },
  inject: {
    // The amount depends on where the service is now: it tops it up to TARGET_MIB.
    async run(ctx) {
      const [now] = await ctx.prometheus.query(`max(process_resident_memory_bytes{service="${SERVICE}"})`);
      const resident = Math.ceil(Number(now?.value?.[1] ?? 0) / MIB);
      if (!resident) throw new Error(`Prometheus has no process_resident_memory_bytes of ${SERVICE}`);
      held.mb = Math.max(1, TARGET_MIB - resident);
      await switchFault(ctx.gateway, ctx.clientSecret, {
        service: SERVICE,
        method: 'PUT',
        body: { memoryMb: held.mb },
      });
      ctx.log(
        `${SERVICE} was at ${resident} MiB resident: holds ${held.mb} MiB more (npm run chaos -- ${SERVICE} memory ${held.mb})`,
      );
    },
    async undo(ctx) {
      await switchFault(ctx.gateway, ctx.clientSecret, {
        service: SERVICE,
        method: 'PUT',
        body: { memoryMb: 0 },
      });
      ctx.log(`${SERVICE} let go of ${held.mb} MiB (npm run chaos -- ${SERVICE} memory off)`);
    },
  },
  alert: { name: 'HighMemory', labels: { service: SERVICE }, within: '6m' },
  alsoFires: [{ name: 'FaultInjectionActive', labels: { service: SERVICE, fault: 'memory' } }],
  runbook: [
    { expr: 'topk(3, process_resident_memory_bytes{service!=""})', culprit: { service: SERVICE } },
    { expr: 'topk(3, nodejs_external_memory_bytes{service!=""})', culprit: { service: SERVICE } },
  ],
  symptom: false,
  recovery: { within: '2m' },
  docs: {
    inject: `\`npm run chaos -- customer memory 90\`: the customer service allocates 90 MiB and holds them (filled
buffers, outside the JavaScript heap). Pick the amount so that its resident memory ends between 230 MiB
(the alert) and 256 MiB (Compose's \`mem_limit\`): about 240 minus what Grafana's _Runtime_ dashboard shows
for it now (\`npm run scenario -- high-memory\` computes it). More than that and the kernel kills the
container: that is the \`container-restarting\` scenario.`,
    sees: `Nothing: every request still succeeds, as fast as before. Memory is a fault that waits: the next
burst of traffic, or a few more MiB, and the container is killed (\`OOMKilled\`), restarted, and every
request in flight fails.`,
    alerts: `\`HighMemory\` (resident memory above 230 MiB, \`for: 5m\`) for customer after 5–5.5 minutes;
\`FaultInjectionActive\` (customer, memory) at once.`,
    find: `- Grafana → _Runtime_: customer's resident memory steps up and stays, while its _heap used_ does not
  move: the memory is outside the JavaScript heap (buffers, native memory), so a heap snapshot would not
  show it; \`nodejs_external_memory_bytes\` did the same step.
- Prometheus: \`topk(3, process_resident_memory_bytes{service!=""})\` names the service, and
  \`topk(3, nodejs_external_memory_bytes{service!=""})\` says it is buffers. \`docker stats\` shows the
  container close to its limit.
- Kibana → \`service : "customer" and message : "fault injection changed"\`: who made it hold memory, and
  when (a real leak would have no such line: look for what changed at the moment the step began).`,
    undo: `\`npm run chaos -- customer memory off\`: the buffers are freed at once; the alert resolves at the next
evaluation with resident memory back under 230 MiB.`,
  },
};
