// docs/scenarios.md §2: half of the customer service's requests answer 500.
export default {
  name: 'failing-customer',
  title: 'Failing customer service',
  summary:
    "Half of the customer service's requests answer 500 injected_fault: profiles fail, orders are retried, and the error ratio points at customer.",
  touches: ['customer', 'gateway', 'order', 'oauth'], // its runbook query ranks every service's 5xx ratio: nothing beside it may move one
  traffic: [
    // Browsing twice as often as profiles: the gateway's 5xx ratio stays below customer's even when its
    // breaker to customer fails every profile. All with a user's token (its own rate limit).
    { name: 'browse', method: 'GET', path: '/api/products?limit=5', perSecond: 4, auth: 'user' },
    { name: 'profile', method: 'GET', path: '/api/customers/me', perSecond: 2, auth: 'user' },
  ],
  steadyState: {
    quiet: ['HighErrorRatio'],
    queries: [
      {
        // No service answers 5xx, not only customer: the runbook's first query ranks them all (a scenario
        // run just before may leave its 5xx in the window for a while; the runner waits for them to go).
        expr: 'sum(rate(http_server_request_duration_seconds_count{status_code=~"5.."}[5m]))',
        below: 0.01,
      },
    ],
  },
  inject: { fault: { service: 'customer', body: { errorRatio: 0.5 } } },
  alert: { name: 'HighErrorRatio', labels: { service: 'customer' }, within: '5m' },
  alsoFires: [{ name: 'FaultInjectionActive', labels: { service: 'customer', fault: 'errors' } }],
  runbook: [
    {
      // The 5xx ratio by service, highest first: the failing service before the callers it fails.
      expr: 'sort_desc(sum by (service) (rate(http_server_request_duration_seconds_count{status_code=~"5.."}[5m])) / sum by (service) (rate(http_server_request_duration_seconds_count[5m])))',
      culprit: { service: 'customer' },
    },
    {
      // The customer service's own 5xx are 500s (it fails itself), not 502/503 from something it calls.
      expr: 'sum by (route, status_code) (rate(http_server_request_duration_seconds_count{service="<service>", status_code=~"5.."}[5m]))',
      culprit: { status_code: '500' },
      match: 'every',
    },
  ],
  symptom: { status: '5xx' },
  recovery: { within: '6m' },
  docs: {
    sees: `\`profile\` tasks fail about half the time (\`500 injected_fault\` in the summary's answers); \`order\`
tasks fail when the order service's check of the customer fails (a GET, so it is retried:
\`http_client_retries_total{peer_service="customer"}\` rises and many orders still succeed), answering 503
when the retries are exhausted. With enough calls (at least \`BREAKER_MIN_REQUESTS\` in
\`BREAKER_WINDOW_MS\`, half of them failing) the order service's circuit breaker to customer opens: those
orders fail fast with 503 \`circuit_open\` and \`Retry-After\`. Use \`--rate 20\` to see it happen.`,
    alerts: `\`HighErrorRatio\` (more than 5% 5xx over 5 minutes, \`for: 2m\`) for \`customer\` after about
2.5–3 minutes, and for \`gateway\` and \`order\` if enough of their requests fail too; \`CircuitBreakerOpen\`
(service order, upstream customer) 30 s after the breaker opened, if it does.`,
    find: `- Grafana → _Services overview_ → _5xx ratio by service_: customer first. _Service detail_
  (customer) → _Responses by status code_: 500s on every route. _Resilience_: _Failed calls between
  services_ (order → customer, gateway → customer), _Circuit breaker state_.
- Kibana → saved search _Errors by service_, \`service : "customer"\`: the injected errors; the
  callers' records (\`service : "order" and message : "circuit"\`) say when the breaker opened,
  half-opened and closed.
- Jaeger → service \`traffic\`, operation \`traffic.order\`, tag \`error=true\`: the red span deepest in
  the trace is customer's server span with the \`fault.injected\` event; retried calls show as two or
  three client spans from order to customer.`,
    undo: 'The breaker lets a trial call through after `BREAKER_HALF_OPEN_AFTER_MS` and closes when it succeeds.',
  },
};
