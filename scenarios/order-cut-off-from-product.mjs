// docs/scenarios.md §6: the order service's calls to product fail as if product were down, while
// product itself is healthy and serving the catalogue.
export default {
  name: 'order-cut-off-from-product',
  title: 'Order service cut off from product',
  summary:
    "The order service's calls to product fail while product itself is healthy: orders are rejected, order's breaker to product opens, and nothing alerts about product, because the problem is between the two.",
  touches: ['order', 'gateway'],
  traffic: [
    { name: 'browse', method: 'GET', path: '/api/products?limit=5', perSecond: 2, auth: 'user' },
    {
      name: 'order',
      method: 'POST',
      path: '/api/orders',
      perSecond: 3,
      auth: 'user',
      headers: ({ seq }) => ({ 'idempotency-key': `order-cut-off-${Date.now()}-${seq}` }),
      body: ({ productId }) => ({ lines: [{ productId, quantity: 1 }] }),
    },
  ],
  steadyState: {
    quiet: ['CircuitBreakerOpen', { name: 'HighErrorRatio', labels: { service: 'product' } }],
    queries: [
      {
        expr: 'sum(rate(http_client_request_duration_seconds_count{service="order", peer_service="product", status_code=~"5..|error"}[5m]))',
        below: 0.05,
      },
    ],
  },
  inject: { fault: { service: 'order', body: { unreachable: ['product'] } } },
  alert: { name: 'CircuitBreakerOpen', labels: { service: 'order', upstream: 'product' }, within: '3m' },
  alsoFires: [
    { name: 'FaultInjectionActive', labels: { service: 'order', fault: 'unreachable' } },
    { name: 'HighErrorRatio', labels: { service: 'order' } },
  ],
  runbook: [
    {
      // The caller's failed calls by upstream: product's calls end in errors, not in answers.
      expr: 'sort_desc(sum by (peer_service, status_code) (rate(http_client_request_duration_seconds_count{service="<service>", status_code=~"5..|error"}[5m])) > 0)',
      culprit: { peer_service: 'product', status_code: 'error' },
    },
    {
      // Why: the retries of order's GETs to product, by reason.
      expr: 'sum by (service, peer_service, reason) (rate(http_client_retries_total[5m])) > 0',
      culprit: { service: 'order', peer_service: 'product', reason: 'unreachable' },
      match: 'any',
    },
  ],
  symptom: { status: 503 },
  recovery: { within: '2m' },
  docs: {
    sees: `Browsing works; \`order\` tasks answer 503 \`dependency_unavailable\` (the order ends \`REJECTED\`);
once the order service's breaker to product is open (at least \`BREAKER_MIN_REQUESTS\` calls in
\`BREAKER_WINDOW_MS\`, so at \`--rate 20\` or more with \`npm run traffic\`) the answers become 503
\`circuit_open\`. Cancels fail too (releasing stock needs product).`,
    alerts: `\`CircuitBreakerOpen\` fires 30 s after the breaker opened; \`HighErrorRatio\` for \`order\` after
about 2.5–3 minutes. No \`ServiceDown\`, no alert about product: the problem is between the two.`,
    find: `- Grafana → _Business_: _Orders by outcome_ switches from \`confirmed\` to \`dependency_unavailable\`.
  _Service detail_ (order) → _Calls to other services by status_: \`peer_service="product"\` with
  \`status_code="error"\`, while _Service detail_ (product) shows no errors at all.
- Jaeger → service \`traffic\`, operation \`traffic.order\`, tag \`error=true\`: order's span that calls
  product carries the \`fault.injected\` event (\`fault.type: unreachable\`, \`peer.service: product\`), and
  there is no client span to product nor any product span below it: the call was never sent.
- Kibana → \`service : "order" and level : "warn"\`: the reservation failures and the breaker.`,
    undo: `Orders rejected meanwhile stay \`REJECTED\`; any stock they may have reserved is released by the order
service's compensation, retried every 2 s until product confirms.`,
  },
};
