// docs/scenarios.md §1: every request of the product service waits 2 s.
export default {
  name: 'slow-product',
  title: 'Slow product service',
  summary:
    'The product service answers every request 2 s late: the catalogue and the orders slow down, no request fails, and the latency follows the calls back to product.',
  touches: ['product', 'gateway', 'order'],
  traffic: [
    // All with a user's token: counted against its own rate limit, not the address other scenarios share.
    { name: 'browse', method: 'GET', path: '/api/products?limit=5', perSecond: 3, auth: 'user' },
    { name: 'view', method: 'GET', path: '/api/products/{productId}', perSecond: 2, auth: 'user' },
    { name: 'profile', method: 'GET', path: '/api/customers/me', perSecond: 1, auth: 'user' },
  ],
  steadyState: {
    quiet: ['SlowResponses'],
    queries: [
      {
        expr: 'histogram_quantile(0.95, sum by (le) (rate(http_server_request_duration_seconds_bucket{service="product"}[5m])))',
        below: 0.5,
      },
    ],
  },
  inject: { fault: { service: 'product', body: { latency: { minMs: 2000, maxMs: 2000 } } } },
  alert: { name: 'SlowResponses', labels: { service: 'product' }, within: '5m' },
  alsoFires: [{ name: 'FaultInjectionActive', labels: { service: 'product', fault: 'latency' } }],
  runbook: [
    {
      // Each service's own time (its requests' time minus what it waits for other services), in seconds
      // per second: the slow service first, not the gateway and order that wait for it, nor oauth's scrypt.
      expr: 'sort_desc(sum by (service) (rate(http_server_request_duration_seconds_sum[5m])) - sum by (service) (rate(http_client_request_duration_seconds_sum[5m])))',
      culprit: { service: 'product' },
    },
    {
      // Who everyone waits for: the callers' time in calls, by upstream.
      expr: 'sort_desc(sum by (peer_service) (rate(http_client_request_duration_seconds_sum[5m])))',
      culprit: { peer_service: 'product' },
    },
  ],
  symptom: { slowerThanMs: 1500 },
  recovery: { within: '7m' },
  docs: {
    sees: `\`browse\` and \`view\` tasks take about 2 s; \`order\` tasks at least 2 s more (the order service
reserves stock in product), and their p95/p99 in the summary jump. No errors while 2 s stays under the
callers' timeout (\`UPSTREAM_TIMEOUT_MS\`, 5 s); with \`latency 6000\` the gateway and the order service time
out and the answers become 504s and 503s. (\`npm run chaos -- product latency 100-500\` is a milder, jittery
variant.)`,
    alerts: `\`SlowResponses\` (p95 above 500 ms over 5 minutes, \`for: 2m\`) fires for \`product\` after about
2.5–3 minutes, then for \`gateway\` and \`order\`, whose requests wait for product.`,
    find: `- Grafana → _Services overview_: p95/p99 by service rise for product, gateway and order together;
  _Calls between services: p95 by upstream_ shows every caller waiting on \`peer_service="product"\`.
  _Resilience_ → _Injected faults_ shows the fault switched on at that moment.
- Jaeger → service \`traffic\`, operation \`traffic.browse\`, _Min Duration_ \`1s\`: the trace's time is
  all in product's server span \`GET /products\`, whose own work is short; the span has the
  \`fault.injected\` event (\`fault.type: latency\`). A click on an exemplar dot in _Service detail_
  (product) → _Duration p50 / p95 / p99_ opens such a trace.
- Kibana → saved search _Access log_, \`service : "product" and duration_ms > 1000\`; then
  \`message : "fault injection changed"\` shows who switched the fault on, and when.`,
    undo: 'The alerts resolve once the 5-minute window has forgotten the slow requests (up to about 5 minutes).',
  },
};
