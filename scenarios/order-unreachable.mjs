// docs/scenarios.md §3, second variant: the gateway's calls to the order service fail as if it were
// down, while order itself is fine. Compare with order-down.
export default {
  name: 'order-unreachable',
  title: 'Order service unreachable from the gateway',
  summary:
    "The gateway's calls to the order service fail as if it were down, but order is up: the gateway's circuit breaker opens and its errors rise, and no ServiceDown fires, which tells the two cases apart.",
  touches: ['gateway', 'order'],
  traffic: [
    { name: 'browse', method: 'GET', path: '/api/products?limit=5', perSecond: 2, auth: 'user' },
    {
      name: 'order',
      method: 'POST',
      path: '/api/orders',
      perSecond: 3,
      auth: 'user',
      headers: ({ seq }) => ({ 'idempotency-key': `order-unreachable-${Date.now()}-${seq}` }),
      body: ({ productId }) => ({ lines: [{ productId, quantity: 1 }] }),
    },
  ],
  steadyState: {
    quiet: ['CircuitBreakerOpen', { name: 'ServiceDown', labels: { service: 'order' } }],
    queries: [
      {
        expr: 'max(circuit_breaker_state{service="gateway", upstream="order", state=~"open|half_open"})',
        below: 0.5,
      },
    ],
  },
  inject: { fault: { service: 'gateway', body: { unreachable: ['order'] } } },
  alert: { name: 'CircuitBreakerOpen', labels: { service: 'gateway', upstream: 'order' }, within: '3m' },
  alsoFires: [{ name: 'FaultInjectionActive', labels: { service: 'gateway', fault: 'unreachable' } }],
  runbook: [
    {
      // The calls the breaker fails fast, by caller and upstream.
      expr: 'sort_desc(sum by (service, upstream) (rate(circuit_breaker_rejected_total[5m])) > 0)',
      culprit: { service: 'gateway', upstream: 'order' },
      match: 'any',
    },
    {
      // The caller's failed calls by upstream: order's calls end in errors, not in answers.
      expr: 'sort_desc(sum by (peer_service, status_code) (rate(http_client_request_duration_seconds_count{service="<service>", status_code=~"5..|error"}[5m])) > 0)',
      culprit: { peer_service: 'order', status_code: 'error' },
      match: 'any',
    },
  ],
  symptom: { status: 503 },
  recovery: { within: '2m' },
  docs: {
    sees: `\`order\` and \`cancel\` tasks fail: 503 (\`upstream_unavailable\`), then, once the gateway's
circuit breaker to order is open, 503 \`circuit_open\` with \`Retry-After\`, answered in a millisecond.
Browsing, viewing and profiles keep working: the failure is contained.`,
    alerts: `The gateway's \`HighErrorRatio\` follows after about 2.5–3 minutes if orders are more than 5% of
its requests (the default mix of \`npm run traffic\`: about 17%). No \`ServiceDown\`: order itself is
fine, which is the point of comparing this with \`order-down\`.`,
    find: `- Grafana → _Services overview_ → _Services up_: order is up. _Resilience_ → _Circuit breaker
  state_ shows gateway → order open, _429 / 503 / 504 responses by service_ the 503s at the gateway;
  _Injected faults_ the gateway's \`unreachable\` fault.
- Jaeger → service \`traffic\`, operation \`traffic.order\`: the gateway's span carries the
  \`fault.injected\` event (\`fault.type: unreachable\`, \`peer.service: order\`) and has no client span
  to order (the call was never sent); after the breaker opened, a \`circuit_breaker.rejected\` event.
- Kibana → \`service : "gateway" and http.status_code >= 502\`; \`service : "gateway" and message :
  "circuit"\` for the breaker's transitions; \`message : "fault injection changed"\` for who switched it.`,
    undo: 'The breaker half-opens after `BREAKER_HALF_OPEN_AFTER_MS`, a trial call succeeds, it closes.',
  },
};
