// MonitoringTargetDown: the broker hangs (stopped, not gone): its metrics endpoint stops answering.
export default {
  name: 'broker-hung',
  title: 'The broker hangs',
  summary:
    "RabbitMQ freezes without exiting: its port still accepts connections but nothing answers, so Prometheus' scrapes time out; the learner tells a hung target from a stopped one, and the monitoring's blind spot from an outage.",
  touches: ['rabbitmq'],
  requires: ['rabbitmq'],
  traffic: [
    { name: 'browse', method: 'GET', path: '/api/products?limit=5', perSecond: 1 },
    { name: 'profile', method: 'GET', path: '/api/customers/me', perSecond: 1, auth: 'user' },
  ],
  steadyState: { quiet: ['MonitoringTargetDown'] },
  inject: { pause: 'rabbitmq' },
  alert: { name: 'MonitoringTargetDown', labels: { job: 'rabbitmq' }, within: '3m' },
  alsoFires: [{ name: 'MonitoringTargetDown', labels: { job: 'rabbitmq-queues' } }],
  runbook: [
    {
      expr: 'up{job!~"gateway|oauth|customer|product|order"} == 0',
      culprit: { job: 'rabbitmq' },
      match: 'any',
    },
    { expr: 'scrape_duration_seconds{job="<job>"}', culprit: { job: 'rabbitmq' } },
  ],
  symptom: false,
  recovery: { within: '1m' },
  docs: {
    inject: `\`docker compose pause rabbitmq\` (the processes are frozen, the container and its ports stay). Without
Docker, freeze the broker \`npm start\` runs: \`kill -STOP <pid>\` of the \`beam.smp\` process listening on its
metrics port (\`npm run scenario -- broker-hung\` finds it from Prometheus' target).`,
    sees: `Nothing at first: orders are placed and cancelled as before, because no request waits for the broker.
The order service's relay cannot get its events confirmed (they wait in the outbox) and the customers'
order summaries stop moving. Unlike a stopped broker, connections are not refused: they hang.`,
    alerts: `\`MonitoringTargetDown\` for the jobs \`rabbitmq\` and \`rabbitmq-queues\` after 2–2.5 minutes (each scrape
waits for its timeout first). Left frozen for 5 minutes, \`OutboxBacklog\` (service order) follows. No
\`ServiceDown\`: the services themselves are fine.`,
    find: `- Prometheus → Status → Targets: \`rabbitmq\` and \`rabbitmq-queues\` down with
  \`context deadline exceeded\` (hung or overloaded), not \`connection refused\` (not running): the first
  fork in the runbook. \`scrape_duration_seconds{job="rabbitmq"}\` sits at the scrape timeout.
- Grafana → _Events_: the RabbitMQ panels have no data, _Events waiting in the outbox_ climbs with every
  order.
- \`docker compose ps rabbitmq\` says \`Paused\`; \`docker compose logs rabbitmq\` is silent since the
  moment it froze. Kibana → \`service : "order" and context : "OrderEvents"\`: publishes not confirmed.`,
    undo: `\`docker compose unpause rabbitmq\` (or \`kill -CONT <pid>\`). The next scrape succeeds and the alert resolves;
the outbox drains in a few seconds.`,
  },
};
