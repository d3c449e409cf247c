// docs/scenarios.md §5: one client far over its rate limit. The storm is the scenario's own loop (not
// its `traffic`, which stays polite): a burst until the gateway answers 429, then 25 requests/s, and a
// burst again whenever a new window lets it through. Bursting matters because the gateway's fixed
// windows (RATE_LIMIT_WINDOW_SECONDS, 60 s) are not shortened with Prometheus' intervals: at a steady
// pace the limit would take most of a window to run out.

const PATH = '/api/customers/me'; // a protected route: counted against the token's subject, not the address
const IN_FLIGHT = 8;
const PACED_PER_SECOND = 25;

let storm;

/** A POST retried while oauth is busy (503 shed by its password hashing, 504, 429), for up to 60 s. */
async function patiently(url, init, done) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) }).catch(
      () => undefined,
    );
    const body = response ? await response.text() : '';
    if (response && done(response.status)) return { status: response.status, body };
    if ((response && ![429, 502, 503, 504].includes(response.status)) || Date.now() > deadline)
      return { status: response?.status ?? 0, body };
    await new Promise((resolve) => setTimeout(resolve, 1000 + Math.random() * 1000));
  }
}

async function signUp(gateway) {
  const email = `storm-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  const password = `storm-${Math.random().toString(36).slice(2)}-horse`;
  const created = await patiently(
    `${gateway}/api/users`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'lab-scenario/rate-limit-storm' },
      body: JSON.stringify({ email, password, name: 'Storm' }),
    },
    // 409: an attempt that timed out did create the user.
    (status) => status === 201 || status === 409,
  );
  if (created.status !== 201 && created.status !== 409)
    throw new Error(`sign-up of the storm's user answered ${created.status}`);
  const login = await patiently(
    `${gateway}/api/oauth/token`,
    { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: email, password }) },
    (status) => status === 200,
  );
  const token = login.status === 200 ? JSON.parse(login.body).access_token : undefined;
  if (typeof token !== 'string') throw new Error(`the storm's user got no token (${login.status})`);
  return token;
}

function startStorm(gateway, token) {
  const state = { stopped: false, sent: 0, limited: 0, other: 0, burst: true };
  const headers = { authorization: `Bearer ${token}`, 'user-agent': 'lab-scenario/rate-limit-storm' };
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const worker = async () => {
    while (!state.stopped) {
      const started = Date.now();
      try {
        const response = await fetch(`${gateway}${PATH}`, { headers, signal: AbortSignal.timeout(10_000) });
        await response.arrayBuffer();
        state.sent++;
        if (response.status === 429) {
          state.limited++;
          state.burst = false;
        } else {
          if (response.status !== 200) state.other++;
          state.burst = true; // a new window: run its limit out again
        }
      } catch {
        state.other++;
      }
      if (!state.burst)
        await sleep(Math.max(0, (IN_FLIGHT * 1000) / PACED_PER_SECOND - (Date.now() - started)));
    }
  };
  state.done = Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return state;
}

export default {
  name: 'rate-limit-storm',
  title: 'Rate limit storm',
  summary:
    'One client sends far more requests than its rate limit: the gateway answers it 429 without calling any backend, the other users are not affected, and RequestsRateLimited fires without any error alert.',
  touches: ['gateway'],
  traffic: [
    { name: 'browse', method: 'GET', path: '/api/products?limit=5', perSecond: 2, auth: 'user' },
    { name: 'profile', method: 'GET', path: '/api/customers/me', perSecond: 1, auth: 'user' },
  ],
  steadyState: {
    quiet: ['RequestsRateLimited'],
    queries: [{ expr: 'sum(rate(rate_limited_requests_total{service="gateway"}[5m]))', below: 0.5 }],
  },
  inject: {
    run: async (ctx) => {
      const token = await signUp(ctx.gateway);
      storm = startStorm(ctx.gateway, token);
      ctx.log(
        `storm: one user on GET ${PATH}, ${IN_FLIGHT} requests at a time until the first 429, then ${PACED_PER_SECOND}/s`,
      );
    },
    undo: async (ctx) => {
      if (!storm) return;
      storm.stopped = true;
      await storm.done;
      ctx.log(
        `storm stopped: ${storm.sent} requests, ${storm.limited} answered 429, ${storm.other} other failures`,
      );
      storm = undefined;
    },
  },
  // Compose: about 2.5 minutes. The burst through the first 600 requests takes 10-25 s here, which the
  // faster Prometheus does not shorten.
  alert: { name: 'RequestsRateLimited', labels: { service: 'gateway' }, within: '10m' },
  runbook: [
    {
      // Whose count went over: `subject`, one user (a token), not an address.
      expr: 'sort_desc(sum by (service, reason) (rate(rate_limited_requests_total[5m])))',
      culprit: { service: 'gateway', reason: 'subject' },
    },
  ],
  // The scenario's own traffic is not limited (its users have limits of their own): nothing to trace.
  symptom: false,
  recovery: { within: '7m' },
  docs: {
    inject: `One client far over its limit (\`RATE_LIMIT_REQUESTS\` per \`RATE_LIMIT_WINDOW_SECONDS\` per token
subject, else per IP address; 600 per 60 s by default, 10 requests/s on average):
\`npm run traffic -- --rate 50 --users 1\`. The scenario runs its own storm instead: one user, bursts until
the first 429, then 25 requests/s.`,
    sees: `After the first few seconds most of the storm's requests answer 429 (\`rate-limited\` in the
progress line and the summary of \`npm run traffic\`, counted apart from errors), each with \`Retry-After\`,
\`RateLimit\` and \`RateLimit-Policy\` headers. A second, normal run (\`npm run traffic\`) at the same time is
not affected: its users have limits of their own.`,
    alerts:
      'In Compose it fires about 2.5 minutes after the storm starts. No `HighErrorRatio`: 429 is not a 5xx.',
    find: `- Grafana → _Resilience_ → _Rate-limited requests_ and _429 / 503 / 504 responses by service_;
  _Auth_ → _401 / 403 / 429 responses by service_.
- Kibana → saved search _Access log_, \`service : "gateway" and http.status_code : 429\`, split by
  \`user_id\`: one user makes almost all of them. The gateway also logs \`went over\` with the client's
  key when a window first overflows.
- Jaeger → service \`traffic\`, any operation: the storm's traces are one gateway span answering 429
  and nothing below it; the limit costs the backends nothing.`,
    undo: 'Ctrl-C the storm (the scenario stops its own). The alert resolves when the 5-minute rate falls under 0.5/s.',
  },
};
