// `npm run scenario -- <name>`: runs one scenario of scenarios/*.mjs against the running lab (Compose or
// `npm start` with its local Prometheus), the way an on-call engineer would live it, and proves every
// step: the steady state holds, the fault goes in, the promised alert fires in Prometheus within the
// promised time and reaches the alert-webhook through Alertmanager, the runbook's queries name the
// culprit, one failing request's trace id is printed, the fault is undone and the alert resolves.
// Exit code 0 only if every step held (1 a step failed, 2 usage or definitions, 3 skipped, 130 Ctrl-C).
// Plain Node, no build needed. Times in the definitions are Compose's; a Prometheus evaluating every
// second (PROMETHEUS_INTERVAL=1s under npm start and in CI) runs the rules 15 times faster, and so does
// the runner (r = 15 s / its evaluation_interval).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { processListeningOn } from '../scenarios/lib/local.mjs';
import { adminToken, ChaosError, switchFault } from './chaos.mjs';
import { defaultGatewayUrl, labUrl, loadLocalEnv, SettingError } from './local-env.mjs';
import {
  chaosCommands,
  scheduleOrder,
  startable,
  culpritCheck,
  DEFAULT_SYMPTOM,
  evaluationIntervalOf,
  fillPlaceholders,
  formatDuration,
  formatLabels,
  hasLabels,
  loadScenarios,
  longestRange,
  parseDuration,
  renderScenarioDocs,
  alertRules,
  scaleRanges,
  ScenarioError,
  timeScale,
} from './scenario-lib.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DOCS_FILE = join(ROOT, 'docs/scenarios.md');
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_IN_FLIGHT = 20;
const EXIT = { passed: 0, failed: 1, usage: 2, skipped: 3, interrupted: 130 };

const USAGE = `usage: npm run scenario -- <name> [--keep]
       npm run scenario -- --list | --all [<name>…] | --docs [--check] | --help

  <name>     run one scenario of scenarios/ (see --list): steady state, inject, alert in Prometheus
             and at the alert-webhook, runbook queries and their culprit, a failing request's trace,
             undo, recovery. Exit code 0 only if every step held; 1 if one did not; 3 if skipped
             (the lab lacks what it requires); Ctrl-C undoes the fault.
  --keep     leave the fault on at the end (no undo, no recovery step); prints how to undo it
  --list     name, title, alert and requirements of every scenario
  --all      run every scenario (or those named), concurrently where they touch different services
  --docs     write the generated parts of docs/scenarios.md (--check: exit 1 if it is out of date)

environment:
  GATEWAY_URL          the lab's gateway (default http://localhost:$GATEWAY_PORT, 3000)
  PROMETHEUS_URL       its Prometheus (default http://localhost:9090)
  ALERTMANAGER_URL     its Alertmanager (default http://localhost:9093)
  ALERT_WEBHOOK_URL    its alert-webhook (default http://localhost:9095); ALERT_WEBHOOK_TOKEN if it asks
  JAEGER_URL           Jaeger's UI (e.g. http://localhost:16686): the trace's link is printed when set
  ADMIN_CLIENT_SECRET  the admin-cli client's secret (default admin-cli-secret)
  AMQP_URL             the broker, for poison-event (default: the one npm start runs, else Compose's)
  SCENARIOS_DIR        where the definitions are (default scenarios/)
read from the environment, then from .env.local (npm start's settings). For Docker Compose, pass the
secret of .env: ADMIN_CLIENT_SECRET=... npm run scenario -- ...`;

class UsageError extends Error {}
/** A step that did not hold: the run goes on to undo, then exits 1. */
class StepFailed extends Error {}
/** The lab cannot be reached or lacks something: a one-line message, exit 1. */
class LabError extends Error {}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const causeOf = (error) => error?.cause?.code ?? error?.cause?.message ?? error?.message ?? String(error);
const seconds = (s) => (s >= 10 ? `${Math.round(s)}s` : `${Math.round(s * 10) / 10}s`);

function settings() {
  return {
    gateway: labUrl('GATEWAY_URL', defaultGatewayUrl()),
    prometheus: labUrl('PROMETHEUS_URL', 'http://localhost:9090'),
    alertmanager: labUrl('ALERTMANAGER_URL', 'http://localhost:9093'),
    webhook: labUrl('ALERT_WEBHOOK_URL', 'http://localhost:9095'),
    webhookToken: process.env.ALERT_WEBHOOK_TOKEN || '',
    jaeger: process.env.JAEGER_URL ? labUrl('JAEGER_URL', 'http://localhost:16686') : '',
    clientSecret: process.env.ADMIN_CLIENT_SECRET || 'admin-cli-secret',
  };
}

// ---------------------------------------------------------------------------------------------
// Prometheus, Alertmanager, the webhook.

async function getJson(url, what, init = {}) {
  let response;
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (error) {
    throw new LabError(`cannot reach ${what} at ${new URL(url).origin} (${causeOf(error)})`);
  }
  const text = await response.text();
  if (!response.ok)
    throw new LabError(`${what} answered ${response.status} to ${url}: ${text.slice(0, 200)}`);
  try {
    return JSON.parse(text);
  } catch {
    throw new LabError(`${what} at ${url} did not answer JSON: ${text.slice(0, 200)}`);
  }
}

function prometheusClient(base) {
  const api = async (path) => (await getJson(`${base}${path}`, 'Prometheus')).data;
  return {
    base,
    config: async () => (await api('/api/v1/status/config')).yaml,
    query: async (expr) => {
      const data = await api(`/api/v1/query?query=${encodeURIComponent(expr)}`);
      return data.resultType === 'vector' ? data.result : [];
    },
    alerts: async () => (await api('/api/v1/alerts')).alerts,
    // Right after Prometheus starts its target list is empty (discovery hands targets over every 5 s)
    // and then unscraped: wait, at most 20 s, until every target has been scraped once.
    targets: async () => {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const targets = (await api('/api/v1/targets?state=active')).activeTargets;
        const settled = targets.length > 0 && targets.every((t) => t.health !== 'unknown');
        if (settled || Date.now() >= deadline) return targets;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    },
  };
}

/** The alert of Prometheus' list with this name and these labels, or undefined. */
const findAlert = (alerts, ref) =>
  alerts.find((alert) => alert.labels.alertname === ref.name && hasLabels(alert.labels, ref.labels ?? {}));

const describeRef = (ref) => `${ref.name}${formatLabels(ref.labels)}`;

// ---------------------------------------------------------------------------------------------
// Local processes (pause): the process listening on a scrape target's port.

/** The pid listening on a TCP port on this machine (Linux /proc; lsof elsewhere), or undefined. */
function pidListeningOn(port) {
  if (existsSync('/proc/net/tcp')) return processListeningOn(port)?.pid;
  const lsof = spawnSync('lsof', ['-t', `-iTCP:${port}`, '-sTCP:LISTEN'], { encoding: 'utf8' });
  const pid = Number(lsof.stdout?.trim().split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** How to pause and resume a service or the broker: SIGSTOP/SIGCONT here, `docker compose pause` in Compose. */
async function pauser(prometheus, service) {
  const targets = await prometheus.targets();
  const target = targets.find((t) => t.labels.job === service);
  if (!target)
    throw new LabError(`Prometheus has no scrape target of job "${service}" to find its process by`);
  const url = new URL(target.scrapeUrl);
  if (['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    const pid = pidListeningOn(Number(url.port));
    if (!pid)
      throw new LabError(`no process of this user listens on ${url.host} (${service}'s scrape target)`);
    return {
      what: `SIGSTOP to ${service} (pid ${pid}, listening on ${url.host})`,
      pause: async () => process.kill(pid, 'SIGSTOP'),
      resume: async () => process.kill(pid, 'SIGCONT'),
      resumeHint: `kill -CONT ${pid}`,
    };
  }
  const compose = (verb) => {
    const result = spawnSync('docker', ['compose', verb, service], { cwd: ROOT, encoding: 'utf8' });
    if (result.status !== 0)
      throw new LabError(
        `docker compose ${verb} ${service} failed: ${(result.stderr || result.error?.message || '').trim()}`,
      );
  };
  return {
    what: `docker compose pause ${service}`,
    pause: async () => compose('pause'),
    resume: async () => compose('unpause'),
    resumeHint: `docker compose unpause ${service}`,
  };
}

// ---------------------------------------------------------------------------------------------
// The runner's own traffic: bounded, traced, marked.

function newTraceparent() {
  const traceId = randomBytes(16).toString('hex');
  return { traceId, header: `00-${traceId}-${randomBytes(8).toString('hex')}-01` };
}

function trafficDriver(scenario, lab, { maxSeconds }) {
  const records = [];
  const timers = [];
  let productId;
  let userToken;
  let adminTokenValue;
  let stopped = false;
  let paused = false;
  let seq = 0;
  const userAgent = `lab-scenario/${scenario.name}`;
  const counts = { sent: 0, skipped: 0 };

  async function request(method, path, { headers = {}, body, form } = {}) {
    const trace = newTraceparent();
    const started = performance.now();
    const record = { method, path, traceId: trace.traceId, at: Date.now(), status: 0, ms: 0 };
    try {
      const response = await fetch(`${lab.gateway}${path}`, {
        method,
        headers: {
          traceparent: trace.header,
          'user-agent': userAgent,
          ...(body !== undefined && { 'content-type': 'application/json' }),
          ...headers,
        },
        body: form ? new URLSearchParams(form) : body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      record.status = response.status;
      record.body = await response.text();
    } catch (error) {
      record.error = causeOf(error);
    }
    record.ms = performance.now() - started;
    return record;
  }

  /**
   * A request that may meet a busy oauth (sign-ups hash a password: scrypt, a few at a time, the rest
   * shed with 503 while other scenarios sign up or flood it): retried after a second or two for up to 60 s.
   */
  async function patiently(method, path, init, done) {
    const deadline = Date.now() + 60_000;
    let record;
    do {
      record = await request(method, path, init);
      if (done(record)) return record;
      if (![0, 429, 502, 503, 504].includes(record.status)) return record;
      await sleep(1000 + Math.random() * 1000);
    } while (Date.now() < deadline);
    return record;
  }

  async function signUpUser() {
    const email = `scenario-${scenario.name}-${randomUUID().slice(0, 8)}@example.com`;
    const password = `scenario-${randomUUID()}`;
    const body = { email, password, name: `Scenario ${scenario.name}` };
    // 409: an earlier attempt that timed out did create the user.
    const signUp = await patiently(
      'POST',
      '/api/users',
      { body },
      (r) => r.status === 201 || r.status === 409,
    );
    if (signUp.status !== 201 && signUp.status !== 409)
      throw new LabError(
        `signing up a user at ${lab.gateway}/api/users answered ${signUp.status || signUp.error}`,
      );
    const form = { grant_type: 'password', username: email, password };
    const login = await patiently('POST', '/api/oauth/token', { form }, (r) => r.status === 200);
    const token = login.status === 200 ? JSON.parse(login.body).access_token : undefined;
    if (!token)
      throw new LabError(
        `a password token from ${lab.gateway}/api/oauth/token: ${login.status || login.error}`,
      );
    return token;
  }

  return {
    records,
    counts,
    /** Signs up a new user whose token the 'user' traffic uses from now on; returns the token. */
    async newUser() {
      userToken = await signUpUser();
      return userToken;
    },
    /** Looks up what the traffic needs (a product id, a user), then starts every entry at its rate. */
    async start() {
      const entries = scenario.traffic;
      const needsProduct = (entry) =>
        entry.path.includes('{productId}') ||
        typeof entry.body === 'function' ||
        typeof entry.headers === 'function';
      if (entries.some(needsProduct)) {
        const page = await patiently('GET', '/api/products?limit=5', {}, (r) => r.status === 200);
        productId = page.status === 200 ? JSON.parse(page.body).items?.[0]?.id : undefined;
        if (!productId)
          throw new LabError(
            `no product to use from ${lab.gateway}/api/products (${page.status || page.error})`,
          );
      }
      if (entries.some((entry) => entry.auth === 'user')) userToken = await signUpUser();
      if (entries.some((entry) => entry.auth === 'admin'))
        adminTokenValue = await adminToken(lab.gateway, lab.clientSecret);
      for (const entry of entries) {
        // Bounded: at most perSecond × the run's longest possible duration, and MAX_IN_FLIGHT at once.
        const limit = Math.ceil(entry.perSecond * maxSeconds);
        let sent = 0;
        let inFlight = 0;
        const tick = () => {
          if (stopped || paused) return;
          if (sent >= limit) return;
          if (inFlight >= MAX_IN_FLIGHT) {
            counts.skipped++;
            return;
          }
          sent++;
          counts.sent++;
          inFlight++;
          const ctx = { productId, seq: ++seq };
          const path = entry.path.replaceAll('{productId}', productId ?? '');
          const token =
            entry.auth === 'user' ? userToken : entry.auth === 'admin' ? adminTokenValue : undefined;
          const headers = {
            ...(token && { authorization: `Bearer ${token}` }),
            ...(typeof entry.headers === 'function' ? entry.headers(ctx) : entry.headers),
          };
          const body = typeof entry.body === 'function' ? entry.body(ctx) : entry.body;
          void request(entry.method, path, { headers, body }).then((record) => {
            inFlight--;
            record.traffic = entry.name;
            delete record.body;
            records.push(record);
          });
        };
        timers.push(setInterval(tick, 1000 / entry.perSecond));
      }
    },
    stop() {
      stopped = true;
      for (const timer of timers) clearInterval(timer);
    },
    /** Holds the traffic back (true) or lets it go on (false). */
    pause(value) {
      paused = value;
    },
    /** Requests since `since` (ms): total, by status class, p95. */
    summary(since) {
      const mine = records.filter((record) => record.at >= since);
      const classes = {};
      for (const record of mine) {
        const key = record.error ? 'failed' : `${String(record.status)[0]}xx`;
        classes[key] = (classes[key] ?? 0) + 1;
      }
      const durations = mine.map((record) => record.ms).sort((a, b) => a - b);
      const p95 =
        durations.length > 0
          ? durations[Math.min(durations.length - 1, Math.floor(durations.length * 0.95))]
          : 0;
      const parts = Object.entries(classes)
        .sort()
        .map(([key, count]) => `${key} ${count}`);
      return `${mine.length} requests${parts.length ? ` (${parts.join(', ')})` : ''}, p95 ${Math.round(p95)} ms`;
    },
  };
}

const isSymptom = (record, symptom) =>
  (symptom.status === '5xx' && (record.status >= 500 || record.error !== undefined)) ||
  (typeof symptom.status === 'number' && record.status === symptom.status) ||
  (symptom.slowerThanMs !== undefined && record.ms > symptom.slowerThanMs);

// ---------------------------------------------------------------------------------------------
// One scenario.

function reporter(write = (line) => process.stdout.write(`${line}\n`)) {
  const isTty = process.stdout.isTTY;
  let progressShown = false;
  let lastProgress = 0;
  const steps = [];
  const clear = () => {
    if (isTty && progressShown) process.stdout.write('\r\x1b[2K');
    progressShown = false;
  };
  return {
    steps,
    ok(step, text) {
      clear();
      steps.push({ step, ok: true });
      write(`✔ ${step}: ${text}`);
    },
    fail(step, text) {
      clear();
      steps.push({ step, ok: false });
      write(`✘ ${step}: ${text}`);
    },
    info(text) {
      clear();
      write(`  ${text}`);
    },
    /** A progress line: rewritten in place on a terminal, every 10 s otherwise. */
    progress(text) {
      if (isTty) {
        process.stdout.write(`\r\x1b[2K… ${text}`);
        progressShown = true;
      } else if (Date.now() - lastProgress >= 10_000) {
        lastProgress = Date.now();
        write(`… ${text}`);
      }
    },
    clear,
  };
}

async function runScenario(scenario, lab, { keep }) {
  const out = reporter();
  const prometheus = prometheusClient(lab.prometheus);
  const r = lab.r;
  const scaled = (duration) => parseDuration(duration) / r; // seconds, real time
  // Real-time slack on every deadline: the evaluations and scrapes that straddle it.
  const slack = 3 * lab.intervalSeconds + 5;
  const alertRef = scenario.alert;
  const quiet = [];
  for (const ref of [
    ...(alertRef ? [alertRef] : []),
    ...(scenario.steadyState?.quiet ?? []).map((entry) =>
      typeof entry === 'string' ? { name: entry, labels: alertRef?.labels ?? {} } : { labels: {}, ...entry },
    ),
  ])
    if (!quiet.some((other) => describeRef(other) === describeRef(ref))) quiet.push(ref);
  const maxSeconds =
    60 / r +
    slack +
    (alertRef ? scaled(alertRef.within) : scaled(scenario.hold)) +
    slack * 3 +
    (keep || !alertRef ? 0 : scaled(scenario.recovery.within) + slack) +
    30;
  const traffic = trafficDriver(scenario, lab, { maxSeconds });
  let undo;
  let undone = false;
  let injectedAt = 0;

  /**
   * Undoes the fault; if the switch does not answer (a service the fault keeps busy, its queue full of
   * the runner's own requests), holds the traffic back and tries again every 2 s for up to 60 s.
   */
  const doUndo = async () => {
    if (!undo || undone) return;
    undone = true;
    const deadline = Date.now() + 60_000;
    for (let attempt = 1; ; attempt++) {
      try {
        await undo();
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        if (attempt === 1) out.info(`undo failed (${error.message}): holding the traffic back, trying again`);
        traffic.pause(true);
        await sleep(2000);
      }
    }
    traffic.pause(false);
  };
  const aborter = new AbortController();
  const interrupt = async (signal) => {
    out.clear();
    traffic.stop();
    aborter.abort();
    if (undo && !undone && !keep) {
      process.stdout.write(`\n${signal}: undoing the fault first… `);
      try {
        await doUndo();
        process.stdout.write('done\n');
      } catch (error) {
        process.stdout.write(`FAILED: ${error.message}\n`);
      }
    }
    process.exit(EXIT.interrupted);
  };
  process.once('SIGINT', () => void interrupt('Ctrl-C'));
  process.once('SIGTERM', () => void interrupt('SIGTERM'));

  /** The steady state's problems now (quiet alerts pending or firing, queries out of bounds) and the queries' answers. */
  const steadyStateNow = async ({ firingOnly = false } = {}) => {
    const problems = [];
    const answers = [];
    const alerts = await prometheus.alerts();
    for (const ref of quiet) {
      const alert = findAlert(alerts, ref);
      if (alert && (!firingOnly || alert.state === 'firing'))
        problems.push(`${describeRef(ref)} is ${alert.state}`);
    }
    for (const query of scenario.steadyState?.queries ?? []) {
      const expr = scaleRanges(query.expr, r);
      const results = await prometheus.query(expr);
      // NaN (a quantile or ratio of nothing) is no data.
      const values = results.map((result) => Number(result.value[1])).filter((value) => !Number.isNaN(value));
      const bad = values.filter((value) =>
        query.below !== undefined ? !(value < query.below) : !(value > query.above),
      );
      const bound = query.below !== undefined ? `< ${query.below}` : `> ${query.above}`;
      answers.push(
        `${expr} = ${values.length ? values.map((v) => Math.round(v * 1000) / 1000).join(', ') : 'no data'} (${bound})`,
      );
      if (bad.length > 0 || (query.above !== undefined && values.length === 0))
        problems.push(`${expr} is ${values.length ? bad.join(', ') : 'empty'}, not ${bound}`);
    }
    return { problems, answers };
  };

  console.log(`scenario ${scenario.name}: ${scenario.title}`);
  console.log(
    `  gateway ${lab.gateway}, Prometheus ${lab.prometheus} (evaluates every ${lab.interval}: Compose's times${r === 1 ? '' : ` ÷ ${Math.round(r * 100) / 100}`})`,
  );
  try {
    await traffic.start();
    const trafficNames = scenario.traffic.map((entry) => `${entry.name} ${entry.perSecond}/s`).join(', ');
    if (trafficNames) out.info(`traffic: ${trafficNames} (user-agent lab-scenario/${scenario.name})`);

    // 1. Steady state: the quiet alerts neither pending nor firing, the queries within their bounds,
    // after three evaluations of the runner's traffic at least (a counter first seen has no rate).
    {
      const started = Date.now();
      const warmUp = Math.max(3 * lab.intervalSeconds, 4) * 1000;
      // Long enough for what an earlier scenario left in a query's window to leave it.
      const window =
        Math.max(0, ...(scenario.steadyState?.queries ?? []).map((q) => longestRange(q.expr))) / r;
      const deadline = started + warmUp + (Math.max(60 / r, 10, window) + slack) * 1000;
      let problems = [];
      let answers = [];
      while (true) {
        ({ problems, answers } = await steadyStateNow());
        if (problems.length === 0 && Date.now() - started >= warmUp) break;
        if (Date.now() > deadline) break;
        out.progress(
          `steady state: ${problems.join('; ') || 'warming up'} [${seconds((Date.now() - started) / 1000)}]`,
        );
        await sleep(Math.max(500, lab.intervalSeconds * 1000));
      }
      if (problems.length > 0) {
        out.fail(
          'steady state',
          `${problems.join('; ')}: the lab is not where this scenario starts (a fault still on? a scenario still recovering?)`,
        );
        throw new StepFailed('steady state');
      }
      out.ok(
        'steady state',
        `${quiet.map(describeRef).join(', ')} quiet${answers.length ? `; ${answers.join('; ')}` : ''}`,
      );
    }

    // 2. Inject.
    const inject = scenario.inject;
    let injectText;
    if (inject.fault) {
      const { service, body } = inject.fault;
      const before = await switchFault(lab.gateway, lab.clientSecret, { service, method: 'GET' });
      const previous = Object.fromEntries(Object.keys(body).map((key) => [key, before.faults[key]]));
      await switchFault(lab.gateway, lab.clientSecret, { service, method: 'PUT', body });
      undo = async () => {
        await switchFault(lab.gateway, lab.clientSecret, { service, method: 'PUT', body: previous });
      };
      undo.hint = chaosCommands(service, previous).join('; ');
      injectText = `${service} ${JSON.stringify(body)} (= ${chaosCommands(service, body).join('; ')})`;
    } else if (inject.pause) {
      const target = await pauser(prometheus, inject.pause);
      await target.pause();
      undo = target.resume;
      undo.hint = target.resumeHint;
      injectText = target.what;
    } else {
      const ctx = {
        gateway: lab.gateway,
        clientSecret: lab.clientSecret,
        r,
        scenario: scenario.name,
        prometheus,
        adminToken: () => adminToken(lab.gateway, lab.clientSecret),
        /** A new user for the runner's traffic (its token signed now, e.g. with a new key). */
        newUser: () => traffic.newUser(),
        /** SIGSTOP / SIGCONT of a service's local process (docker compose pause / unpause in Compose). */
        pause: async (service) => (await pauser(prometheus, service)).pause(),
        resume: async (service) => (await pauser(prometheus, service)).resume(),
        /** Aborted on Ctrl-C (and SIGTERM): loops started by run() stop on it. */
        signal: aborter.signal,
        log: (text) => out.info(text),
      };
      await inject.run(ctx);
      undo = async () => inject.undo(ctx);
      undo.hint = scenario.docs.undo ?? "the scenario's inject.undo";
      // The docs' first sentence: the rest (commands, prose) is for docs/scenarios.md.
      injectText = scenario.docs.inject.replace(/\s+/g, ' ').split(/(?<=[.:])\s/)[0];
    }
    injectedAt = Date.now();
    out.ok('inject', injectText);

    if (!alertRef) {
      // No alert is the check: for `hold`, nothing of the quiet list fires, the queries keep their
      // bounds and no request of the runner's shows the symptom.
      const holdSeconds = scaled(scenario.hold);
      const symptom = scenario.symptom === false ? undefined : (scenario.symptom ?? DEFAULT_SYMPTOM);
      let problems = [];
      while (Date.now() < injectedAt + holdSeconds * 1000) {
        ({ problems } = await steadyStateNow({ firingOnly: true }));
        const bad = symptom
          ? traffic.records.filter((record) => record.at >= injectedAt && isSymptom(record, symptom))
          : [];
        if (bad.length > 0)
          problems.push(
            `${bad.length} requests matched ${JSON.stringify(symptom)}, e.g. ${bad[0].method} ${bad[0].path} → ${bad[0].error ?? bad[0].status} (trace ${bad[0].traceId})`,
          );
        if (problems.length > 0) break;
        out.progress(
          `holding: nothing fires; ${seconds((Date.now() - injectedAt) / 1000)} of ${seconds(holdSeconds)}${r === 1 ? '' : ` (${scenario.hold} in Compose)`}; ${traffic.summary(injectedAt)}`,
        );
        await sleep(Math.max(500, lab.intervalSeconds * 1000));
      }
      if (problems.length > 0) {
        out.fail('hold', problems.join('; '));
        throw new StepFailed('hold');
      }
      out.ok(
        'hold',
        `${quiet.map(describeRef).join(', ')} stayed quiet for ${scenario.hold}${r === 1 ? '' : ` (${seconds(holdSeconds)})`}; ${traffic.summary(injectedAt)}`,
      );
    } else {
      // 3. The alert fires in Prometheus, within its time.
      const within = scaled(alertRef.within);
      const alertDeadline = injectedAt + (within + slack) * 1000;
      let firing;
      while (Date.now() < alertDeadline) {
        const alert = findAlert(await prometheus.alerts(), alertRef);
        if (alert?.state === 'firing') {
          firing = alert;
          break;
        }
        const elapsed = (Date.now() - injectedAt) / 1000;
        out.progress(
          `waiting for ${describeRef(alertRef)}: ${alert ? `pending since ${seconds((Date.now() - Date.parse(alert.activeAt)) / 1000)}` : 'inactive'}; ` +
            `${seconds(elapsed)} of ${seconds(within)}${r === 1 ? '' : ` (${alertRef.within} in Compose)`}; traffic since inject: ${traffic.summary(injectedAt)}`,
        );
        await sleep(Math.max(250, (lab.intervalSeconds * 1000) / 2));
      }
      const firedAfter = (Date.now() - injectedAt) / 1000;
      if (!firing) {
        out.fail(
          'alert',
          `${describeRef(alertRef)} did not fire within ${seconds(within + slack)} (${alertRef.within} in Compose time, + ${seconds(slack)})`,
        );
        throw new StepFailed('alert');
      }
      out.ok(
        'alert',
        `${describeRef(alertRef)} firing in Prometheus after ${seconds(firedAfter)}${r === 1 ? '' : ` (≈ ${formatDuration(Math.max(1, Math.round(firedAfter * r)))} in Compose time)`}, within ${alertRef.within}: ${firing.annotations?.summary ?? ''}`,
      );

      // 4. It reaches the alert-webhook through Alertmanager.
      {
        const deadline = Date.now() + (60 / r + slack) * 1000;
        let where = 'webhook';
        let found;
        while (!found && Date.now() < deadline) {
          found = await deliveredAlert(
            lab,
            alertRef,
            injectedAt,
            scenario.notify === 'alertmanager',
            (fallback) => (where = fallback),
          );
          if (!found) {
            out.progress(
              `waiting for ${describeRef(alertRef)} at the ${where === 'webhook' ? `alert-webhook (${lab.webhook}/alerts)` : `Alertmanager (${lab.alertmanager})`}`,
            );
            await sleep(500);
          }
        }
        if (!found) {
          out.fail(
            'notified',
            `${describeRef(alertRef)} did not arrive at the ${where === 'webhook' ? 'alert-webhook' : 'Alertmanager'} within ${seconds(60 / r + slack)}`,
          );
          throw new StepFailed('notified');
        }
        out.ok(
          'notified',
          where === 'webhook'
            ? `the alert-webhook received it (${found})`
            : scenario.notify === 'alertmanager'
              ? `${found} (this scenario checks Alertmanager, not the webhook)`
              : `${found} (the webhook at ${lab.webhook} has no GET /alerts: Alertmanager checked instead)`,
        );
      }

      // 5. What else fires with it.
      for (const ref of scenario.alsoFires ?? []) {
        const deadline = Date.now() + slack * 1000;
        let alert;
        while (Date.now() < deadline) {
          alert = findAlert(await prometheus.alerts(), ref);
          if (alert?.state === 'firing') break;
          await sleep(500);
        }
        if (alert?.state === 'firing') out.ok('also firing', describeRef(ref));
        else {
          out.fail('also firing', `${describeRef(ref)} is ${alert?.state ?? 'not firing'}`);
          throw new StepFailed('also firing');
        }
      }
    }

    // 6. The runbook's queries, answered now, name the culprit.
    for (const [index, step] of scenario.runbook.entries()) {
      const vars = { ...alertRef?.labels, ...step.vars };
      const filled = fillPlaceholders(step.expr, vars);
      const expr = scaleRanges(filled, r);
      const results = await prometheus.query(expr);
      const check = culpritCheck(results, step.culprit, step.match);
      const lines = [`query ${index + 1}: ${step.expr}`];
      if (expr !== step.expr) lines.push(`  ran: ${expr}`);
      const valueOf = (result) =>
        Number.isNaN(Number(result.value[1])) ? -Infinity : Number(result.value[1]);
      const sorted = [...results].sort((a, b) => valueOf(b) - valueOf(a));
      for (const result of sorted.slice(0, 5))
        lines.push(`  ${formatLabels(result.metric) || '{}'} ${Number(result.value[1]).toPrecision(4)}`);
      if (results.length > 5) lines.push(`  … ${results.length - 5} more series`);
      if (results.length === 0) lines.push('  (no series)');
      for (const line of lines) out.info(line);
      if (check.ok) out.ok('runbook', `query ${index + 1} names the culprit: ${check.reason}`);
      else {
        out.fail('runbook', `query ${index + 1} does not name the culprit: ${check.reason}`);
        throw new StepFailed('runbook');
      }
    }

    // 7. One failing (or slow) request of the runner's, by the trace id it sent.
    if (!alertRef) {
      const record = traffic.records.filter((candidate) => candidate.at >= injectedAt).at(-1);
      if (record)
        out.ok(
          'trace',
          `a request after the inject: ${record.method} ${record.path} → ${record.status} in ${Math.round(record.ms)} ms, trace ${record.traceId}${lab.jaeger ? `: ${lab.jaeger}/trace/${record.traceId}` : ''}`,
        );
    } else if (scenario.symptom === false)
      out.ok('trace', 'none expected: the traffic sees nothing of this fault');
    else {
      const symptom = scenario.symptom ?? DEFAULT_SYMPTOM;
      // A failing request may still be waiting for its timeout (a hung upstream): up to one more timeout.
      const matching = () =>
        traffic.records.filter((record) => record.at >= injectedAt && isSymptom(record, symptom));
      const waitUntil = Date.now() + REQUEST_TIMEOUT_MS + 2000;
      while (matching().length === 0 && Date.now() < waitUntil) await sleep(250);
      const failing = matching();
      const record = failing.at(-1);
      if (!record) {
        out.fail(
          'trace',
          `no request of the runner's since the inject matched ${JSON.stringify(symptom)} (${traffic.summary(injectedAt)})`,
        );
        throw new StepFailed('trace');
      }
      const link = lab.jaeger ? `: ${lab.jaeger}/trace/${record.traceId}` : ' (set JAEGER_URL for its link)';
      out.ok(
        'trace',
        `${record.method} ${record.path} → ${record.error ?? record.status} in ${Math.round(record.ms)} ms, trace ${record.traceId}${link}; ${failing.length} such requests since the inject`,
      );
    }

    // 8. Undo, 9. recovery.
    if (keep) {
      out.info(`--keep: the fault stays on; undo it with: ${undo.hint}`);
    } else {
      await doUndo();
      out.ok('undo', undo.hint);
    }
    if (!keep && alertRef) {
      const undoneAt = Date.now();
      const within = scaled(scenario.recovery.within);
      const deadline = undoneAt + (within + slack) * 1000;
      let alert = findAlert(await prometheus.alerts(), alertRef);
      while (alert && Date.now() < deadline) {
        out.progress(
          `waiting for ${describeRef(alertRef)} to resolve: ${alert.state}; ${seconds((Date.now() - undoneAt) / 1000)} of ${seconds(within)}; ${traffic.summary(undoneAt)}`,
        );
        await sleep(Math.max(250, (lab.intervalSeconds * 1000) / 2));
        alert = findAlert(await prometheus.alerts(), alertRef);
      }
      if (alert) {
        out.fail(
          'recovery',
          `${describeRef(alertRef)} still ${alert.state} ${seconds(within + slack)} after the undo (${scenario.recovery.within} in Compose time)`,
        );
        throw new StepFailed('recovery');
      }
      const after = (Date.now() - undoneAt) / 1000;
      out.ok(
        'recovery',
        `${describeRef(alertRef)} resolved ${seconds(after)} after the undo${r === 1 ? '' : ` (≈ ${formatDuration(Math.max(1, Math.round(after * r)))} in Compose time)`}, within ${scenario.recovery.within}`,
      );
    }
  } catch (error) {
    out.clear();
    if (!(error instanceof StepFailed)) {
      const step = injectedAt ? 'run' : 'setup';
      out.fail(
        step,
        error instanceof LabError || error instanceof ChaosError
          ? error.message
          : (error?.stack ?? String(error)),
      );
    }
    if (!keep && undo && !undone) {
      try {
        await doUndo();
        out.ok('undo', `${undo.hint} (after the failure)`);
      } catch (undoError) {
        out.fail('undo', `${undoError.message}: undo it by hand: ${undo.hint}`);
      }
    }
  } finally {
    traffic.stop();
  }
  const failed = out.steps.filter((step) => !step.ok);
  console.log(
    failed.length === 0
      ? `scenario ${scenario.name}: passed (${out.steps.length} steps held)`
      : `scenario ${scenario.name}: FAILED at ${failed.map((step) => step.step).join(', ')}`,
  );
  return failed.length === 0 ? EXIT.passed : EXIT.failed;
}

/**
 * A notification of the alert, firing, received since `since`: from the webhook's GET /alerts, or (when
 * it has none) the alert active in Alertmanager. Returns a short description or undefined.
 */
async function deliveredAlert(lab, ref, since, alertmanagerOnly, onFallback) {
  const headers = lab.webhookToken ? { authorization: `Bearer ${lab.webhookToken}` } : {};
  let response;
  if (!alertmanagerOnly) {
    try {
      response = await fetch(`${lab.webhook}/alerts`, {
        headers,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch {
      response = undefined;
    }
  }
  if (response?.ok) {
    const body = await response.json();
    const alerts = Array.isArray(body) ? body : (body.alerts ?? []);
    const match = alerts.find(
      (alert) =>
        alert.status === 'firing' &&
        alert.labels?.alertname === ref.name &&
        hasLabels(alert.labels, ref.labels ?? {}) &&
        Date.parse(alert.receivedAt ?? alert.startsAt ?? 0) >= since - 1000,
    );
    return match ? `status firing, received ${match.receivedAt ?? match.startsAt}` : undefined;
  }
  onFallback('alertmanager');
  const filter = encodeURIComponent(`alertname="${ref.name}"`);
  const alerts = await getJson(`${lab.alertmanager}/api/v2/alerts?filter=${filter}`, 'Alertmanager');
  const match = alerts.find(
    (alert) => hasLabels(alert.labels, ref.labels ?? {}) && alert.status?.state === 'active',
  );
  return match ? `active in Alertmanager since ${match.startsAt}` : undefined;
}

// ---------------------------------------------------------------------------------------------
// The lab: reachable? what can it do?

async function connect(config) {
  const prometheus = prometheusClient(config.prometheus);
  let yaml;
  try {
    yaml = await prometheus.config();
  } catch (error) {
    throw new LabError(
      `${error.message}: is it running? (npm start with prometheus installed, or docker compose up; set PROMETHEUS_URL otherwise)`,
    );
  }
  const interval = evaluationIntervalOf(yaml);
  try {
    const response = await fetch(`${config.gateway}/health/live`, {
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    await response.arrayBuffer();
  } catch (error) {
    throw new LabError(
      `cannot reach the gateway at ${config.gateway} (${causeOf(error)}): is the lab running? (npm start, or docker compose up; set GATEWAY_URL otherwise)`,
    );
  }
  return {
    ...config,
    interval,
    intervalSeconds: parseDuration(interval),
    r: timeScale(interval),
    prom: prometheus,
  };
}

/**
 * What a scenario's `requires` lacks here, each as said: 'compose' = the targets are not local; else a
 * job with no up target (with Prometheus' reason when it has one that is down).
 */
async function unmetRequirements(scenario, lab) {
  if (!scenario.requires?.length) return [];
  const targets = await lab.prom.targets();
  const local = targets.some(
    (t) =>
      ['127.0.0.1', 'localhost'].includes(new URL(t.scrapeUrl).hostname) &&
      ['gateway', 'order'].includes(t.labels.job),
  );
  return scenario.requires.flatMap((requirement) => {
    if (requirement === 'compose') return local ? [requirement] : [];
    const ofJob = targets.filter((t) => t.labels.job === requirement);
    if (ofJob.some((t) => t.health === 'up')) return [];
    const down = ofJob.find((t) => t.health === 'down');
    return [down ? `${requirement} (its target ${down.scrapeUrl} is down: ${down.lastError})` : requirement];
  });
}

// ---------------------------------------------------------------------------------------------
// Commands.

async function list(scenarios) {
  const rows = scenarios.map((s) => [
    s.name,
    s.title,
    s.alert ? describeRef(s.alert) : `none (holds ${s.hold})`,
    s.requires?.join(', ') || '-',
  ]);
  const header = ['name', 'title', 'alert', 'requires'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  for (const row of [header, ...rows])
    console.log(
      row
        .map((cell, i) => cell.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    );
}

async function docs(scenarios, check) {
  const current = readFileSync(DOCS_FILE, 'utf8');
  const next = renderScenarioDocs(current, scenarios, alertRules(join(ROOT, 'infra/prometheus/rules')));
  if (check) {
    if (next !== current) {
      console.error(
        'scenario: docs/scenarios.md is out of date with scenarios/: run npm run scenario -- --docs',
      );
      return EXIT.failed;
    }
    console.log('docs/scenarios.md is up to date');
    return EXIT.passed;
  }
  if (next !== current) writeFileSync(DOCS_FILE, next);
  console.log(next === current ? 'docs/scenarios.md was up to date' : 'docs/scenarios.md written');
  return EXIT.passed;
}

/**
 * Every scenario (or the named ones) as children: each starts as soon as no running one touches a
 * service it touches (one touching the alert-webhook runs alone); output prefixed with its name.
 */
async function runAll(scenarios, names, keep, config) {
  const chosen =
    names.length > 0 ? names.map((name) => scenarios.find((s) => s.name === name) ?? name) : scenarios;
  const unknown = chosen.filter((s) => typeof s === 'string');
  if (unknown.length > 0)
    throw new UsageError(`unknown scenario ${unknown.join(', ')} (npm run scenario -- --list)`);
  // Reachable, once: not a runner per scenario each saying it cannot reach Prometheus.
  await connect(config);
  const results = [];
  const pending = scheduleOrder(chosen);
  const running = new Set();
  const children = new Set();
  const forward = (signal) => children.forEach((child) => child.kill(signal));
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const run = (scenario) =>
    new Promise((resolve) => {
      const child = spawn(
        process.execPath,
        [fileURLToPath(import.meta.url), scenario.name, ...(keep ? ['--keep'] : [])],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      children.add(child);
      const prefix = `[${scenario.name}] `;
      for (const stream of [child.stdout, child.stderr]) {
        let rest = '';
        stream.on('data', (chunk) => {
          const lines = (rest + chunk.toString()).split('\n');
          rest = lines.pop() ?? '';
          for (const line of lines) process.stdout.write(`${prefix}${line}\n`);
        });
      }
      child.on('exit', (code) => {
        children.delete(child);
        resolve(code ?? EXIT.failed);
      });
    });
  await new Promise((done) => {
    const next = () => {
      if (pending.length === 0 && running.size === 0) return done();
      for (const scenario of startable(pending, [...running])) {
        pending.splice(pending.indexOf(scenario), 1);
        running.add(scenario);
        console.log(
          `== ${scenario.name} starts${
            running.size > 1
              ? ` (beside ${[...running]
                  .filter((s) => s !== scenario)
                  .map((s) => s.name)
                  .join(', ')})`
              : ''
          }`,
        );
        void run(scenario).then((code) => {
          running.delete(scenario);
          results.push({ name: scenario.name, code });
          next();
        });
      }
    };
    next();
  });
  process.off('SIGINT', forward);
  process.off('SIGTERM', forward);
  const word = (code) => (code === EXIT.passed ? 'passed' : code === EXIT.skipped ? 'skipped' : 'FAILED');
  console.log(`== ${results.map((result) => `${result.name} ${word(result.code)}`).join(', ')}`);
  return results.every((result) => result.code === EXIT.passed || result.code === EXIT.skipped)
    ? EXIT.passed
    : EXIT.failed;
}

async function main(args) {
  const flags = new Set(args.filter((arg) => arg.startsWith('-')));
  const names = args.filter((arg) => !arg.startsWith('-'));
  const known = ['--help', '-h', '--list', '--keep', '--all', '--docs', '--check'];
  const unknownFlag = [...flags].find((flag) => !known.includes(flag));
  if (unknownFlag) throw new UsageError(`unknown option ${unknownFlag}`);
  if (flags.has('--help') || flags.has('-h')) {
    console.log(USAGE);
    return EXIT.passed;
  }
  loadLocalEnv();
  // The repository's own definitions, whatever SCENARIOS_DIR says: docs/scenarios.md documents those.
  if (flags.has('--docs')) return docs(await loadScenarios(join(ROOT, 'scenarios')), flags.has('--check'));
  const scenarios = await loadScenarios(process.env.SCENARIOS_DIR || join(ROOT, 'scenarios'));
  if (flags.has('--list')) return list(scenarios);
  // The lab's addresses only when a scenario runs: listing needs none of them.
  const config = settings();
  if (flags.has('--all')) return runAll(scenarios, names, flags.has('--keep'), config);
  if (names.length !== 1)
    throw new UsageError(
      names.length === 0
        ? 'say which scenario to run (npm run scenario -- --list)'
        : 'one scenario at a time (or --all)',
    );
  const scenario = scenarios.find((s) => s.name === names[0]);
  if (!scenario)
    throw new UsageError(
      `unknown scenario "${names[0]}": choose one of ${scenarios.map((s) => s.name).join(', ')}`,
    );
  const lab = await connect(config);
  const unmet = await unmetRequirements(scenario, lab);
  if (unmet.length > 0) {
    console.log(`scenario ${scenario.name}: skipped: needs ${unmet.join(', ')}`);
    return EXIT.skipped;
  }
  return runScenario(scenario, lab, { keep: flags.has('--keep') });
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  try {
    process.exitCode = (await main(process.argv.slice(2))) ?? EXIT.passed;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`scenario: ${error.message}\n\n${USAGE}`);
      process.exitCode = EXIT.usage;
    } else if (error instanceof ScenarioError || error instanceof SettingError) {
      console.error(`scenario: ${error.message}`);
      process.exitCode = EXIT.usage;
    } else {
      console.error(
        `scenario: ${error instanceof LabError || error instanceof ChaosError ? error.message : (error?.stack ?? String(error))}`,
      );
      process.exitCode = EXIT.failed;
    }
  }
  // Timers of the traffic and undici's keep-alive sockets must not hold the exit.
  process.exit(process.exitCode);
}
