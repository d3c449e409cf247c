// docs/scenarios.md §3, first variant: the order service stops answering (its process paused, or the
// Compose container stopped). Compare with order-unreachable, where order is fine.
export default {
  name: 'order-down',
  title: 'Order service down',
  summary:
    'The order service stops answering: orders and cancels fail with 503 while browsing and profiles keep working, and ServiceDown names the service that is gone.',
  touches: ['order', 'gateway'],
  traffic: [
    { name: 'browse', method: 'GET', path: '/api/products?limit=5', perSecond: 2, auth: 'user' },
    {
      name: 'order',
      method: 'POST',
      path: '/api/orders',
      perSecond: 2,
      auth: 'user',
      headers: ({ seq }) => ({ 'idempotency-key': `order-down-${Date.now()}-${seq}` }),
      body: ({ productId }) => ({ lines: [{ productId, quantity: 1 }] }),
    },
  ],
  steadyState: {
    quiet: ['ServiceDown'],
    queries: [{ expr: 'up{job="order"}', above: 0.5 }],
  },
  inject: { pause: 'order' },
  alert: { name: 'ServiceDown', labels: { service: 'order' }, within: '2m30s' },
  runbook: [
    {
      expr: 'up{job=~"gateway|oauth|customer|product|order"} == 0',
      culprit: { job: 'order' },
      match: 'every',
    },
  ],
  symptom: { status: '5xx' },
  recovery: { within: '1m' },
  docs: {
    inject: `In Compose: \`docker compose stop order\` (or \`docker compose pause order\`, what the scenario
does there). With \`npm start\`: \`kill -STOP <pid>\` of the order service (\`pgrep -f
dist/apps/order/src/main.js\`), what the scenario does: the process keeps its port but answers nothing,
like a hung service. The variant without stopping anything is the next scenario, \`order-unreachable\`.`,
    sees: `\`order\` and \`cancel\` tasks fail: 503 (\`upstream_unavailable\`; with a paused process the gateway
first waits \`UPSTREAM_TIMEOUT_MS\`, 5 s, and answers 504), then, once the gateway's circuit breaker to order
is open, 503 \`circuit_open\` with \`Retry-After\`, answered in a millisecond. Browsing, viewing and profiles
keep working: the failure is contained.`,
    alerts: `\`ServiceDown\` (service order, \`for: 30s\`) after 45–75 s; the gateway's \`CircuitBreakerOpen\`
towards order is suppressed by Alertmanager (ServiceDown explains it), and so are order's
\`HighErrorRatio\`/\`SlowResponses\`. The gateway's \`HighErrorRatio\` fires after about 2.5–3 minutes if
orders are more than 5% of its requests (the default mix of \`npm run traffic\`: about 17%).`,
    find: `- Grafana → _Services overview_ → _Services up_ shows order down; _Resilience_ → _Circuit breaker
  state_ shows gateway → order open, _429 / 503 / 504 responses by service_ the 503s at the gateway.
- Prometheus → Status → Targets: the order target's scrape error (\`connection refused\` when stopped,
  \`context deadline exceeded\` when hung).
- Jaeger → service \`traffic\`, operation \`traffic.order\`: the gateway's span ends in error with no
  order span below it (the request never arrived), and after the breaker opened the trace is a single
  short gateway span with the \`circuit_breaker.open\` event on the call that opened it.
- Kibana → \`service : "gateway" and http.status_code >= 502\`; \`service : "gateway" and message :
  "circuit"\` for the breaker's transitions; saved search _Alerts_ for \`ServiceDown\`.`,
    undo: `\`docker compose start order\` (or \`unpause\`; \`kill -CONT <pid>\` with \`npm start\`). The breaker
half-opens, a trial call succeeds, it closes; \`ServiceDown\` resolves at the next successful scrape.`,
  },
};
