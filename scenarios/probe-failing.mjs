// ProbeFailing: the catalogue fails for everyone, as the blackbox exporter sees it from outside.
export default {
  name: 'probe-failing',
  title: 'The catalogue fails from outside',
  summary:
    "Every request of the product service answers 500: the blackbox exporter's probe of /api/products, a user's view from outside, fails, while the probes of the gateway's own endpoints pass; the learner goes from a failing URL to the service behind it.",
  touches: ['product', 'gateway', 'order'],
  // The probes are Compose's blackbox exporter's (npm start runs none).
  requires: ['blackbox-http'],
  traffic: [{ name: 'browse', method: 'GET', path: '/api/products?limit=5', perSecond: 1 }],
  steadyState: { quiet: [{ name: 'ProbeFailing', labels: {} }] },
  inject: { fault: { service: 'product', body: { errorRatio: 1 } } },
  alert: {
    name: 'ProbeFailing',
    labels: { instance: 'http://gateway:3000/api/products?limit=1' },
    within: '2m30s',
  },
  alsoFires: [{ name: 'FaultInjectionActive', labels: { service: 'product', fault: 'errors' } }],
  runbook: [
    {
      expr: 'probe_success{job="blackbox-http"} == 0',
      culprit: { instance: 'http://gateway:3000/api/products?limit=1' },
      match: 'every',
    },
    {
      expr: 'probe_http_status_code{job="blackbox-http"}',
      culprit: { instance: 'http://gateway:3000/api/products?limit=1' },
    },
  ],
  recovery: { within: '2m' },
  docs: {
    sees: `Browsing and viewing products answer 500 \`injected_fault\` (the gateway retries each GET, then passes the
500 on); orders fail when they price their lines. Sign-ins, profiles and the signing keys still work.`,
    alerts: `\`ProbeFailing\` for the instance \`http://gateway:3000/api/products?limit=1\` after 1–1.5 minutes (\`for: 1m\`),
and only that one: \`/health/ready\` and the \`/.well-known/*\` probes stay green. \`HighErrorRatio\` for product
and the gateway follow after 2.5–3 minutes, \`FaultInjectionActive\` at once.`,
    find: `- Prometheus: \`probe_success{job="blackbox-http"} == 0\` lists the failing URLs, and
  \`probe_http_status_code{job="blackbox-http"}\` says what they answered (500, not a timeout:
  \`probe_duration_seconds\` stays short). The URL's route (\`/api/products\`) says which service is behind it.
- Kibana → \`service : "gateway" and http.route : "/api/products" and http.status_code >= 500\`, with
  the user agent \`blackbox-exporter (observability-lab)\` for the probes' own requests; then
  \`service : "product" and level : "error"\`.
- Jaeger → service \`gateway\`, operation \`GET /api/products\`, tag \`error=true\`: the product span below
  carries the \`fault.injected\` event.`,
    undo: 'The next probe passes; the alert resolves at the next evaluation after it.',
  },
};
