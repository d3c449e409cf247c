// PasswordHashingOverloaded: a sign-up flood fills oauth's password hashing queue; oauth sheds the rest.
import { randomUUID } from 'node:crypto';

/** Sign-ups per second of the flood: above what two scrypt threads check (~8/s), within the gateway's
 * rate limit for one address (600 per minute), so what the learner sees is oauth shedding, not 429s. */
const FLOOD_PER_SECOND = 9;
const flood = { timer: undefined, inFlight: 0, sent: 0, statuses: {} };

const signUp = (seq) => ({
  email: `flood-${seq}-${randomUUID().slice(0, 8)}@example.com`,
  password: 'flood-password-1',
  name: 'Flood',
});

export default {
  name: 'password-flood',
  title: 'Sign-up flood',
  summary:
    'A burst of sign-ups from one place asks oauth for more scrypt hashes than its threads can check: it sheds the excess at once with 503 overloaded, and the learner tells load shedding from an outage.',
  // The flood starves oauth's password hashing for every sign-in and sign-up of the lab (the admin
  // token of any other scenario's fault switch included): nothing else may run beside it.
  touches: ['oauth', 'gateway', 'customer', 'product', 'order', 'rabbitmq'],
  traffic: [
    // A real user signing up now and then: during the flood they are shed (the symptom).
    {
      name: 'signup',
      method: 'POST',
      path: '/api/users',
      perSecond: 0.2,
      body: (ctx) => signUp(`user-${ctx.seq}`),
    },
    { name: 'browse', method: 'GET', path: '/api/products?limit=5', perSecond: 1 },
  ],
  steadyState: {
    queries: [{ expr: 'sum(rate(password_hash_shed_total{service="oauth"}[5m]))', below: 0.1 }],
  },
  inject: {
    async run(ctx) {
      flood.sent = 0;
      flood.statuses = {};
      const send = async () => {
        // Bounded: never more than 50 waiting answers (a slow lab must not pile up requests here).
        if (flood.inFlight >= 50) return;
        flood.inFlight++;
        flood.sent++;
        try {
          const response = await fetch(`${ctx.gateway}/api/users`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'user-agent': `lab-scenario/${ctx.scenario}` },
            body: JSON.stringify(signUp(flood.sent)),
            signal: AbortSignal.timeout(10_000),
          });
          await response.arrayBuffer();
          flood.statuses[response.status] = (flood.statuses[response.status] ?? 0) + 1;
        } catch {
          flood.statuses.error = (flood.statuses.error ?? 0) + 1;
        } finally {
          flood.inFlight--;
        }
      };
      flood.timer = setInterval(send, 1000 / FLOOD_PER_SECOND);
      ctx.log(`flooding ${ctx.gateway}/api/users with ${FLOOD_PER_SECOND} sign-ups/s`);
    },
    async undo(ctx) {
      clearInterval(flood.timer);
      flood.timer = undefined;
      ctx.log(`flood stopped after ${flood.sent} sign-ups: answers ${JSON.stringify(flood.statuses)}`);
    },
  },
  alert: { name: 'PasswordHashingOverloaded', labels: { service: 'oauth' }, within: '3m30s' },
  runbook: [{ expr: 'sum by (service) (rate(password_hash_shed_total[5m]))', culprit: { service: 'oauth' } }],
  symptom: { status: 503 },
  recovery: { within: '6m' },
  docs: {
    inject: `A burst of sign-ups from one shell, for a few minutes (Ctrl-C stops it):

\`\`\`sh
while true; do for i in $(seq 9); do
  curl -s -o /dev/null -w '%{http_code}\\n' localhost:3000/api/users -H 'content-type: application/json' \\
    -d "{\\"email\\":\\"flood-$RANDOM$RANDOM@example.com\\",\\"password\\":\\"flood-password-1\\",\\"name\\":\\"Flood\\"}" &
done; sleep 1; done
\`\`\`

(\`npm run scenario -- password-flood\` sends the same 9 sign-ups a second.)`,
    sees: `Every sign-up costs oauth one scrypt hash (about 0.25 s of a core, 16 MiB), at most
\`PASSWORD_HASH_CONCURRENCY\` (2) at a time with \`PASSWORD_HASH_QUEUE\` (16) waiting, one address at most
half of them. Nine a second is more than that: within seconds most sign-ups, and the password grants of
real users, answer **503 \`overloaded\`** at once, with \`Retry-After\`, instead of waiting until the
gateway's timeout. Everything else (browsing, orders with existing tokens) is unaffected, and the gateway's
circuit breaker to oauth stays closed: a 503 with \`Retry-After\` is load shedding, not a failing upstream.`,
    alerts: `\`PasswordHashingOverloaded\` (more than 0.1 sheds/s over 5 minutes, \`for: 2m\`) for \`oauth\` after about
2.5 minutes. No \`ServiceDown\`, no \`CircuitBreakerOpen\`; \`HighErrorRatio\` for oauth may follow, since
its 503s are 5xx.`,
    find: `- Grafana → _Auth_: sign-ups and tokens issued flatten while, in _Password hashing: shed and waiting_,
  _oauth shed per second_ climbs and _oauth waiting_ sits at its maximum.
- Kibana → \`service : "oauth" and message : "password hashing queue full"\` (one line every 5 s with the
  number shed), and \`service : "gateway" and http.status_code : 503 and http.route : "/api/users"\`,
  split by client address: one address sends them all.
- Jaeger → service \`oauth\`, operation \`POST /users\`, tag \`error=true\`: short traces that end in a 503
  without any scrypt time, next to the long ones that waited their turn.`,
    undo: `Ctrl-C the loop. The queue drains within seconds; the alert resolves once the 5-minute rate of
sheds falls under 0.1/s.`,
  },
};
