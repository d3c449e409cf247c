// docs/scenarios.md §7: RabbitMQ stops answering for a while (stopped in Compose; paused here). No
// request waits for it: the order events wait in the outbox and go out, in order, when it is back.
export default {
  name: 'broker-down',
  title: 'The broker goes away',
  summary:
    'RabbitMQ stops answering: orders go on as before, their events wait in the outbox until OutboxBacklog fires, and when the broker is back they go out in order, none lost, none counted twice.',
  // order too: its outbox is what the alert reads (a paused order, say, would hide it).
  touches: ['rabbitmq', 'order'],
  requires: ['rabbitmq'],
  traffic: [
    { name: 'browse', method: 'GET', path: '/api/products?limit=5', perSecond: 1, auth: 'user' },
    {
      name: 'order',
      method: 'POST',
      path: '/api/orders',
      perSecond: 2,
      auth: 'user',
      headers: ({ seq }) => ({ 'idempotency-key': `broker-down-${Date.now()}-${seq}` }),
      body: ({ productId }) => ({ lines: [{ productId, quantity: 1 }] }),
    },
  ],
  steadyState: {
    quiet: ['OutboxBacklog', { name: 'MonitoringTargetDown', labels: { job: 'rabbitmq' } }],
    queries: [{ expr: 'up{job="rabbitmq"}', above: 0.5 }],
  },
  inject: { pause: 'rabbitmq' },
  // Compose: 5 minutes and a few seconds. Here the few seconds count 15 times: the relay waits up to
  // 5 s (unscaled) for a confirm the paused broker never sends before its pass sets the gauge.
  alert: { name: 'OutboxBacklog', labels: { service: 'order' }, within: '9m' },
  alsoFires: [{ name: 'MonitoringTargetDown', labels: { job: 'rabbitmq' } }],
  runbook: [
    {
      // The events waiting, by the service whose relay cannot publish them.
      expr: 'max by (service) (outbox_pending_events)',
      culprit: { service: 'order' },
    },
    {
      // Why: the broker's own targets cannot be scraped.
      expr: 'up{job=~"rabbitmq|rabbitmq-queues"} == 0',
      culprit: { job: 'rabbitmq' },
      match: 'any',
    },
  ],
  // The traffic sees nothing: no request waits for the broker.
  symptom: false,
  recovery: { within: '3m' },
  docs: {
    inject: `\`docker compose stop rabbitmq\` (the scenario pauses it: \`docker compose pause rabbitmq\`). Without
Docker, the broker \`npm start\` started: \`kill <pid>\` of the \`[rabbitmq] ready on … (pid N, …)\` line (the
launcher says it exited and the lab goes on), or \`kill -STOP <pid>\` as the scenario does, which keeps
its ports open but answers nothing. Leave it away for a few minutes, then \`docker compose start rabbitmq\`.`,
    sees: `Nothing: orders are placed and cancelled as before (201, 200), because no request waits for the
broker. What stops is everything fed by the order events: the profile's \`orders\` summary
(\`GET /api/customers/me\`) stays where it was.`,
    alerts: `\`MonitoringTargetDown\` (jobs \`rabbitmq\` and \`rabbitmq-queues\`) after 2 minutes; \`OutboxBacklog\`
(service order) after 5 minutes of events waiting in the outbox. No \`ServiceDown\` for the apps, which stay
ready. When the broker is back the backlog drains in a few seconds, in order, and \`OrderEventsConsumerLag\`
may fire for a while after (the lag of those events includes the outage) before it resolves by itself.`,
    find: `- Grafana → _Events_: _Events waiting in the outbox_ climbs with every order; _Consumers of the
  queue_ and the RabbitMQ panels have no data (the \`rabbitmq\` target is down in Prometheus'
  \`/targets\`); after the restart, _Published_ shows the backlog going out at once and _Lag_ a spike
  whose exemplars open the delayed events' traces.
- Kibana → \`service : "order" and context : "OrderEvents"\`: \`publish of order.confirmed … failed,
  retrying in … ms\` while it is away, \`broker back after N failed publishes\` when it returns;
  \`service : "customer"\` shows the consumer reconnecting and then one \`processed\` line per event.
- Jaeger → an order placed during the outage: its trace ends with the order's spans; minutes later
  its \`publish lab.orders\` and \`customer.order-events process\` spans appear in it.

Nothing is lost and nothing counts twice: each event was written with its order's status change, waits
in the outbox until the broker confirms it, and the consumer applies each \`eventId\` once (a message that
went out twice ends as \`duplicate\`). test/events.e2e-spec.ts does exactly this against a real broker
stopped for 10 s.`,
    undo: `\`docker compose start rabbitmq\` (\`unpause\`; \`kill -CONT <pid>\`). The consumer (customer service)
and the relay (order service) reconnect by themselves.`,
  },
};
