// docs/scenarios.md §4: the oauth signing key is rotated while users are active. No alert may fire and
// no request may be refused: that is the check.
export default {
  name: 'key-rotation',
  title: 'Signing key rotation under load',
  summary:
    'The oauth signing key is rotated while users are active: tokens of the old key keep working, tokens of the new key are accepted by every service after one JWKS refetch, and nobody gets a 401.',
  touches: ['oauth'],
  traffic: [
    { name: 'browse', method: 'GET', path: '/api/products?limit=5', perSecond: 1, auth: 'user' },
    { name: 'profile', method: 'GET', path: '/api/customers/me', perSecond: 2, auth: 'user' },
    { name: 'orders', method: 'GET', path: '/api/orders', perSecond: 1, auth: 'user' },
  ],
  steadyState: {
    // (Not SlowResponses for oauth: the sign-ups' password hashing, slow by design, may trip it.)
    // What a failed rotation would trip: the gateway's breaker to oauth (oauth failing, not shedding: a
    // 503 with Retry-After does not count). Not HighErrorRatio for oauth: the sign-ups of scenarios
    // starting at the same moment make it shed (503 overloaded) and fire it, rotation or not.
    quiet: [{ name: 'CircuitBreakerOpen', labels: { service: 'gateway', upstream: 'oauth' } }],
    queries: [
      // Tokens refused by the gateway or a service (an unknown key id ends as invalid_token).
      { expr: 'sum(rate(auth_failures_total{reason=~"invalid_token|expired"}[5m]))', below: 0.01 },
    ],
  },
  inject: {
    run: async (ctx) => {
      const response = await fetch(`${ctx.gateway}/api/oauth/keys/rotate`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${await ctx.adminToken()}`,
          'user-agent': 'lab-scenario/key-rotation',
        },
      });
      const body = await response.text();
      if (response.status !== 200 && response.status !== 201)
        throw new Error(`POST /api/oauth/keys/rotate answered ${response.status}: ${body.slice(0, 200)}`);
      const { kid, previousKid } = JSON.parse(body);
      ctx.log(`rotated the signing key from kid ${previousKid} to kid ${kid}`);
      // A user signed up now gets a token of the new key, which no verifier has seen yet; the traffic
      // goes on with it (and the old key's tokens keep working meanwhile).
      await ctx.newUser();
      ctx.log('the traffic now uses a token signed with the new key');
    },
    undo: async () => {
      // Nothing to undo: rotation is routine, and the old key stays published until its tokens expire.
    },
  },
  alert: null,
  hold: '2m',
  runbook: [],
  // What must NOT happen: a request refused for its token.
  symptom: { status: 401 },
  docs: {
    inject: `While traffic runs, rotate the oauth signing key with an admin token (\`$ADMIN\` as in
[Before you start](#before-you-start)), then start a second traffic run, whose new users get tokens of
the new key:

\`\`\`sh
curl -s -X POST localhost:3000/api/oauth/keys/rotate -H "authorization: Bearer $ADMIN"
npm run traffic -- --users 20 --duration 60
\`\`\``,
    sees: `Nothing the users notice. The old key stays in the JWKS until the tokens it signed expire, so the
first run's tokens keep working; the new run's tokens carry the new \`kid\`, which the gateway and the
services do not know yet: each verifier refetches the JWKS on the unknown \`kid\` (at most once per
\`JWKS_COOLDOWN_MS\`; a token arriving within that cooldown of the verifier's last fetch waits for its
end) and accepts them. Both summaries: no 401. (Before the wait, a verifier that had fetched the JWKS a
few seconds before the rotation refused the new key's first tokens with 401: this scenario found it.)`,
    alerts: `A problem would show as 401s, which are not 5xx: watch \`auth_failures_total\` instead of waiting
for \`HighErrorRatio\`.`,
    find: `- Jaeger → service \`traffic\`, operation \`traffic.signup\` or \`traffic.browse\` of the second run: in
  the first trace that reaches each service with a new token, that service makes a \`GET\` client
  span to oauth's \`/.well-known/jwks.json\` before going on.
- Grafana → _Auth_: _Tokens issued by grant_ (the second run's password grants),
  _Authentication failures by reason_ stays flat; _401 / 403 / 429 responses by service_ stays
  empty. Prometheus: \`sum by (service) (increase(jwks_fetches_total{outcome="ok"}[5m]))\`, one
  fetch per verifier after the rotation.
- Kibana → \`service : "oauth" and message : "rotated the signing key"\` (from which \`kid\` to which,
  when); any \`unknown signing key\` rejection would be logged by the service that refused the token.`,
    undo: `Nothing to undo: rotation is routine. Rotating twice within a token lifetime is fine too; the keys
that signed live tokens stay published.`,
  },
};
