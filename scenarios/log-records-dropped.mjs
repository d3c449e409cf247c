// LogRecordsDropped: Fluentd is stopped while a burst of requests fills the gateway's log buffer.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

function compose(verb) {
  const result = spawnSync('docker', ['compose', verb, 'fluentd'], { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0)
    throw new Error(
      `docker compose ${verb} fluentd failed: ${(result.stderr || result.error?.message || '').trim()}`,
    );
}

export default {
  name: 'log-records-dropped',
  title: 'Logs lost while Fluentd is away',
  summary:
    "Fluentd stops while a burst of requests goes through the gateway: each service keeps its log records for Fluentd in a bounded buffer, the gateway's overflows and it drops the newest; the learner sees what a bounded buffer promises, and where the records still are.",
  touches: ['gateway'],
  // The services ship logs to Fluentd only in Compose (FLUENTD_HOST); npm start has none, so it
  // never drops a record and the counter does not even exist there.
  requires: ['compose'],
  traffic: [
    // About 120 requests a second from one address: most answer 429 at once (cheap for the gateway),
    // and each is an access record: LOG_BUFFER_MAX_RECORDS (10,000) fill in about a minute and a half.
    { name: 'burst-1', method: 'GET', path: '/api/products?limit=1', perSecond: 40 },
    { name: 'burst-2', method: 'GET', path: '/api/products?limit=2', perSecond: 40 },
    { name: 'burst-3', method: 'GET', path: '/api/products?limit=3', perSecond: 40 },
  ],
  steadyState: {
    quiet: ['LogRecordsDropped'],
    queries: [{ expr: 'sum(increase(log_records_dropped_total{service="gateway"}[5m]))', below: 1 }],
  },
  inject: {
    async run(ctx) {
      compose('stop');
      ctx.log('fluentd stopped: the services buffer their log records (LOG_BUFFER_MAX_RECORDS each)');
    },
    async undo(ctx) {
      compose('start');
      ctx.log('fluentd started: the buffered records are delivered; the dropped ones are not');
    },
  },
  alert: { name: 'LogRecordsDropped', labels: { service: 'gateway', reason: 'buffer_full' }, within: '4m' },
  runbook: [
    {
      expr: 'sum by (service, reason) (increase(log_records_dropped_total[1h]))',
      culprit: { service: 'gateway', reason: 'buffer_full' },
    },
  ],
  symptom: { status: 429 },
  recovery: { within: '7m' },
  docs: {
    inject: `\`docker compose stop fluentd\`, then a burst through the gateway, e.g.
\`npm run traffic -- --rate 50 --users 1\` plus \`npm run bench\`, or \`npm run scenario -- log-records-dropped\`
(about 120 requests a second, most of them answered 429 by the rate limit, each one an access record).
Without Docker there is nothing to stop: \`npm start\` ships no logs to Fluentd.`,
    sees: `Nothing different in the answers: logging never blocks nor fails a request. Each service keeps the
records Fluentd has not acknowledged, up to \`LOG_BUFFER_MAX_RECORDS\` (10,000); the gateway, which writes
an access record per request, is the first to reach it and from then on drops new records (and says so,
once, on its stdout).`,
    alerts: `\`LogRecordsDropped\` (gateway, reason \`buffer_full\`; no \`for\`: a drop is final) at the first evaluation
after the first drop, about a minute and a half into the burst; \`RequestsRateLimited\` for the gateway
follows from the burst itself.`,
    find: `- Prometheus: \`sum by (service, reason) (increase(log_records_dropped_total[1h]))\`: which service,
  how many. Status → Targets has no Fluentd job: the services' own counter is the evidence.
- \`docker compose logs gateway | grep FluentdForwarder\`: \`Fluentd at fluentd:24224 unreachable …\`,
  then \`log buffer full (10000 records): dropping records until Fluentd catches up\`; every record is
  still on stdout (\`docker compose logs\`), only Kibana misses them.
- Kibana, after the undo: the records of the outage arrive late, up to the moment the buffer was full,
  then a gap until Fluentd came back. Traces in Jaeger (not shipped through Fluentd) cover the gap.`,
    undo: `\`docker compose start fluentd\`. The services deliver what they kept (\`Fluentd is reachable again;
delivering N buffered log records\`); the dropped records are gone from Kibana for good. The alert
resolves 5 minutes after the last drop.`,
  },
};
