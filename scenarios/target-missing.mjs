// TargetMissing: a configuration change drops the order service's scrape job.
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { isLocal, processListeningOn } from './lib/local.mjs';

const JOB = 'order';
/** The configuration file as it was, to put back. */
const saved = { file: undefined, text: undefined };

/** Where the Prometheus of the lab reads its configuration, if this machine can write it. */
async function configFile(ctx) {
  const flags = await (await fetch(`${ctx.prometheus.base}/api/v1/status/flags`)).json();
  const file = flags.data['config.file'];
  try {
    readFileSync(file, 'utf8');
    return file;
  } catch {
    throw new Error(
      `Prometheus reads ${file}, which is not on this machine (Compose?): remove the "${JOB}" job from ` +
        'infra/prometheus/prometheus.yml by hand, then curl -X POST localhost:9090/-/reload (and put it back afterwards)',
    );
  }
}

/** Makes Prometheus read its configuration again: the lifecycle API (Compose), else SIGHUP to the local process. */
async function reload(ctx) {
  const response = await fetch(`${ctx.prometheus.base}/-/reload`, { method: 'POST' });
  if (response.ok) return 'POST /-/reload';
  const url = new URL(ctx.prometheus.base);
  const prometheus = isLocal(url) && processListeningOn(Number(url.port || 80));
  if (!prometheus)
    throw new Error(
      `Prometheus at ${ctx.prometheus.base} refused /-/reload (${response.status}) and is not a local process`,
    );
  process.kill(prometheus.pid, 'SIGHUP');
  return `SIGHUP to prometheus (pid ${prometheus.pid})`;
}

/** Waits until Prometheus has (`present`) or has not a target of the job. */
async function untilTarget(ctx, present) {
  for (let i = 0; i < 100; i++) {
    const targets = await ctx.prometheus.targets();
    if (targets.some((t) => t.labels.job === JOB) === present) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`Prometheus still ${present ? 'has no' : 'has a'} target of job ${JOB} after 20 s`);
}

export default {
  name: 'target-missing',
  title: 'A scrape job goes missing',
  summary:
    "An edit of prometheus.yml leaves the order service's job without targets: nothing is down, yet nothing about order is collected any more and ServiceDown could not fire for it; the learner meets the alert that watches the monitoring's configuration.",
  touches: ['order'],
  traffic: [{ name: 'orders-list', method: 'GET', path: '/api/orders?limit=5', perSecond: 1, auth: 'user' }],
  steadyState: { quiet: ['TargetMissing'] },
  inject: {
    async run(ctx) {
      const file = await configFile(ctx);
      const text = readFileSync(file, 'utf8');
      const config = parse(text);
      const job = (config.scrape_configs ?? []).find((candidate) => candidate.job_name === JOB);
      if (!job) throw new Error(`${file} has no job "${JOB}"`);
      Object.assign(saved, { file, text });
      // The job stays, without targets: what a lost static_configs block or an empty service discovery
      // does. (Removing the whole job works too, only later: Prometheus does not mark the series of a
      // removed job stale, so up{job="order"} stays visible for the 5-minute lookback first.)
      job.static_configs = [];
      writeFileSync(file, stringify(config));
      ctx.log(`emptied the targets of the job "${JOB}" in ${file}; ${await reload(ctx)}`);
      await untilTarget(ctx, false);
    },
    async undo(ctx) {
      if (saved.file === undefined) return;
      writeFileSync(saved.file, saved.text);
      ctx.log(`${saved.file} as it was; ${await reload(ctx)}`);
      saved.file = undefined;
      await untilTarget(ctx, true);
    },
  },
  alert: { name: 'TargetMissing', labels: { service: JOB }, within: '2m' },
  runbook: [{ expr: 'absent(up{job="<service>"})', culprit: { job: JOB } }],
  symptom: false,
  recovery: { within: '1m' },
  docs: {
    inject: `In \`infra/prometheus/prometheus.yml\`, replace the \`static_configs\` of the \`order\` job with
\`static_configs: []\` (as a bad merge, or a service discovery that finds nothing, would) and reload
Prometheus: \`curl -X POST localhost:9090/-/reload\`. Under \`npm start\`,
\`npm run scenario -- target-missing\` does it to the configuration the launcher wrote for the local
Prometheus (and reloads it with SIGHUP); it never edits the repository's file. Deleting the whole job
fires the alert too, 5 minutes later: Prometheus does not mark the series of a removed job stale, so
\`up{job="order"}\` stays visible for its 5-minute lookback first.`,
    sees: `Nothing: the order service is up and serving; only Prometheus stopped looking at it. Its panels in
Grafana go blank, and an order outage now would raise no \`ServiceDown\`.`,
    alerts: `\`TargetMissing\` (service order, \`for: 1m\`) after 1–1.5 minutes. Nothing else: every alert about order
needs its metrics, which is why this one exists.`,
    find: `- Prometheus → Status → Targets: the \`order\` job has no target (compare: a failing target is listed,
  red). Status → Configuration shows the file Prometheus actually loaded.
- \`count by (job) (up)\` lists the jobs that are there; \`absent(up{job="order"})\` is the alert's own
  test, 1 while the job is gone.
- \`git diff infra/prometheus/prometheus.yml\`: the change that emptied it.`,
    undo: `Put the targets back (\`git checkout infra/prometheus/prometheus.yml\`) and reload. The target reappears
at once and the alert resolves at the next evaluation.`,
  },
};
