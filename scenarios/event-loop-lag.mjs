// EventLoopLag: every request of the product service runs 400 ms of synchronous work first.
export default {
  name: 'event-loop-lag',
  title: 'Blocked event loop in the product service',
  summary:
    "Each request of the product service does 400 ms of synchronous work before its handler: the process's one JavaScript thread is busy, so every other request, its probes and its scrapes wait behind it; the learner tells a blocked event loop from a slow dependency.",
  // Every request that reaches product while it is blocked adds a block of its own: the other scenarios'
  // browsing (and orders, which call product twice) would overload it and time its scrapes out. So it
  // runs beside none of the scenarios whose traffic reaches product.
  touches: ['product', 'gateway', 'order', 'customer', 'oauth', 'rabbitmq'],
  // And beside nothing at all: when its blocks do time product's scrapes out, up{job="product"} is 0 and
  // a scenario beside it that reads `up` (order-down) sees product down too (CI, machine load ~22).
  alone: true,
  traffic: [
    // 1.2 a second: every 1 s scrape window holds a block, yet the thread is busy under half the time, so
    // the loop lags and the scrapes (1 s timeout at PROMETHEUS_INTERVAL=1s) still get through. At 1.5 a
    // second (60 % busy) a loaded CI machine saw product's scrapes time out and the alert never held.
    { name: 'browse', method: 'GET', path: '/api/products?limit=5', perSecond: 1.2, auth: 'user' },
    { name: 'profile', method: 'GET', path: '/api/customers/me', perSecond: 1, auth: 'user' },
  ],
  steadyState: {
    quiet: ['EventLoopLag'],
    queries: [{ expr: 'max(nodejs_eventloop_lag_p99_seconds{service="product"})', below: 0.2 }],
  },
  inject: { fault: { service: 'product', body: { eventLoopBlockMs: 400 } } },
  alert: { name: 'EventLoopLag', labels: { service: 'product' }, within: '3m' },
  alsoFires: [{ name: 'FaultInjectionActive', labels: { service: 'product', fault: 'eventloop' } }],
  runbook: [
    { expr: 'topk(3, nodejs_eventloop_lag_p99_seconds{service!=""})', culprit: { service: 'product' } },
    {
      expr: 'topk(3, sum by (service) (rate(process_cpu_seconds_total{service!=""}[5m])))',
      culprit: { service: 'product' },
    },
  ],
  symptom: { slowerThanMs: 390 },
  recovery: { within: '1m' },
  docs: {
    sees: `\`browse\` and \`view\` take 0.4 s longer, and more when two arrive together: the second waits for the
first's 400 ms, because they share one thread. Orders slow down with them (they reserve
stock in product). Compare \`npm run chaos -- product latency 400\`: the same delay per request, but
spent waiting, not working, so requests do not queue behind each other and the event loop stays idle.
With \`npm run traffic\` (5 tasks a second, most of them reading products) the thread never catches
up: timeouts, then 503s
and 504s from the callers.`,
    alerts: `\`EventLoopLag\` (p99 of the event loop delay above 200 ms, \`for: 2m\`) for product after 2–2.5
minutes; \`FaultInjectionActive\` (product, eventloop) at once. \`SlowResponses\` for product may follow.`,
    find: `- Grafana → _Runtime_: product's event loop lag p99 jumps to the block's length, together with its CPU
  (0.6 of a core at 1.5 requests a second), while GC time stays flat: work, not memory pressure.
- Prometheus: \`topk(3, nodejs_eventloop_lag_p99_seconds{service!=""})\` names the service; its CPU,
  \`rate(process_cpu_seconds_total{service="product"}[5m])\`, rose with it.
- Jaeger → service \`product\`, operation \`GET /products\`: the server span is long with nothing inside it
  before the handler (no MongoDB span, no call): CPU time, marked by the \`fault.injected\` event
  (\`fault.type: eventloop\`, \`fault.block_ms\`). A trace that only waited shows the wait as a gap before
  the server span starts.
- Kibana → \`service : "product" and duration_ms > 200\`: every route slow at once, which points at the
  event loop rather than one endpoint.`,
    undo: 'The lag drops at the next scrape; the alert resolves at the next evaluation.',
  },
};
