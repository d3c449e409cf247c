// The parts of `npm run scenario` that need no running lab: loading and validating the definitions in
// scenarios/*.mjs, the time scale of a Prometheus that evaluates faster than Compose's, the culprit
// check of a runbook query's answer, the concurrency groups and docs/scenarios.md's generated parts.
// Plain Node, no build needed; test/scenario-runner.spec.ts covers it.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse } from 'yaml';

/** The services a scenario can touch: the five and the broker. */
export const TOUCHABLE = ['gateway', 'oauth', 'customer', 'product', 'order', 'rabbitmq', 'alert-webhook'];
/**
 * Who calls each service over HTTP: the gateway every one; order checks the customer, reserves stock in
 * product and gets its service token from oauth; oauth creates the customer of a sign-up; every service
 * fetches oauth's signing keys (JWKS) for a key it does not know. A fault in a service moves its callers'
 * metrics too (their calls fail or wait, their own answers fail), so a scenario that injects one touches
 * its callers as well. (A scenario whose `inject.run` does the damage names them itself.)
 */
export const CALLERS = {
  gateway: [],
  oauth: ['gateway', 'customer', 'product', 'order'],
  customer: ['gateway', 'order', 'oauth'],
  product: ['gateway', 'order'],
  order: ['gateway'],
};
/** Touching these conflicts with every other scenario (each one's "notified" step needs the webhook). */
const EXCLUSIVE = ['alert-webhook'];
/** Compose's scrape and evaluation interval (infra/prometheus/prometheus.yml), in seconds. */
export const COMPOSE_INTERVAL_S = 15;
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
const AUTH = ['none', 'user', 'admin'];
const MATCH = ['top', 'every', 'any'];
const MAX_PER_SECOND = 50;
const FAULT_KEYS = [
  'latency',
  'errorRatio',
  'unreachable',
  'readinessFailing',
  'memoryMb',
  'eventLoopBlockMs',
];
/** What puts each fault of the switch's body back off. */
const FAULT_OFF = {
  latency: null,
  errorRatio: 0,
  unreachable: [],
  readinessFailing: false,
  memoryMb: 0,
  eventLoopBlockMs: 0,
};
const NOTIFY = ['webhook', 'alertmanager'];
/** Default of `symptom`: the request whose trace the runner prints. */
export const DEFAULT_SYMPTOM = { status: '5xx', slowerThanMs: 1000 };

export class ScenarioError extends Error {}

const UNITS = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, y: 31_536_000 };

/** A Prometheus duration (`1m30s`, `500ms`, `4m`) in seconds; undefined when it is not one. */
export function parseDuration(text) {
  if (typeof text !== 'string' || !/^(\d+(ms|s|m|h|d|w|y))+$/.test(text.trim())) return undefined;
  let total = 0;
  for (const [, value, unit] of text.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) total += Number(value) * UNITS[unit];
  return total;
}

/** Seconds as a Prometheus duration: 20 → `20s`, 90 → `1m30s`, 0.5 → `500ms`. */
export function formatDuration(seconds) {
  const ms = Math.max(1, Math.round(seconds * 1000));
  if (ms % 1000 !== 0) return `${ms}ms`;
  let rest = ms / 1000;
  let text = '';
  for (const [unit, size] of [
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ]) {
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return text;
}

/**
 * r = 15 s / the evaluation interval of the Prometheus in front of us (its `global.evaluation_interval`):
 * a local Prometheus evaluating every second runs the rules with every `for:` and range divided by 15,
 * so everything the scenarios say in Compose time is divided by r too.
 */
export function timeScale(evaluationInterval) {
  const seconds = parseDuration(String(evaluationInterval ?? ''));
  if (!seconds) throw new ScenarioError(`evaluation interval "${evaluationInterval}" is not a duration`);
  return COMPOSE_INTERVAL_S / seconds;
}

/** `global.evaluation_interval` from the YAML text of Prometheus' `/api/v1/status/config` (default 1m). */
export function evaluationIntervalOf(configYaml) {
  const global = /^global:\s*\n((?:[ \t]+.*\n?)*)/m.exec(configYaml)?.[1] ?? '';
  return /^\s+evaluation_interval:\s*(\S+)/m.exec(global)?.[1] ?? '1m';
}

/** Every range selector (`[5m]`, subqueries `[5m:30s]`) divided by r: `rate(x[5m])` at r = 15 → `rate(x[20s])`. */
export function scaleRanges(expr, r) {
  if (r === 1) return expr;
  return expr.replace(/\[(\w+)(?::(\w*))?\]/g, (whole, range, step) => {
    const seconds = parseDuration(range);
    if (seconds === undefined) return whole;
    const scaled = formatDuration(seconds / r);
    if (step === undefined) return `[${scaled}]`;
    const stepSeconds = parseDuration(step);
    return `[${scaled}:${stepSeconds === undefined ? step : formatDuration(stepSeconds / r)}]`;
  });
}

/** The longest range selector of `expr` in seconds (`rate(x[5m])` → 300), 0 without one. */
export function longestRange(expr) {
  return Math.max(
    0,
    ...[...expr.matchAll(/\[(\w+)(?::\w*)?\]/g)].map(([, range]) => parseDuration(range) ?? 0),
  );
}

/** `<service>` placeholders of a runbook query filled from `vars`; throws naming one that has no value. */
export function fillPlaceholders(expr, vars) {
  return expr.replace(/<([a-z_]+)>/g, (whole, name) => {
    const value = vars[name];
    if (value === undefined)
      throw new ScenarioError(`the query has the placeholder ${whole} and no value for it (vars.${name})`);
    return String(value);
  });
}

/** True when `labels` carries every label of `wanted` with that value. */
export function hasLabels(labels, wanted) {
  return Object.entries(wanted).every(([name, value]) => labels?.[name] === value);
}

/** `{service="product", fault="latency"}` */
export function formatLabels(labels) {
  const entries = Object.entries(labels ?? {});
  return entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${v}"`).join(', ')}}`;
}

/**
 * Whether an instant query's answer (`[{metric, value: [t, "v"]}]`) names the culprit: `top` (the
 * series with the highest value carries the labels), `every` series does, or `any` does.
 */
export function culpritCheck(results, culprit, match = 'top') {
  const want = formatLabels(culprit);
  if (results.length === 0) return { ok: false, reason: `no series in the answer, expected ${want}` };
  const value = (result) => {
    const number = Number(result.value?.[1]);
    return Number.isNaN(number) ? -Infinity : number;
  };
  if (match === 'every') {
    const other = results.find((result) => !hasLabels(result.metric, culprit));
    return other
      ? { ok: false, reason: `${formatLabels(other.metric)} is in the answer too, expected only ${want}` }
      : { ok: true, reason: `every series carries ${want}` };
  }
  if (match === 'any') {
    return results.some((result) => hasLabels(result.metric, culprit))
      ? { ok: true, reason: `a series carries ${want}` }
      : { ok: false, reason: `no series carries ${want}` };
  }
  const top = [...results].sort((a, b) => value(b) - value(a))[0];
  return hasLabels(top.metric, culprit)
    ? { ok: true, reason: `the top series carries ${want}` }
    : { ok: false, reason: `the top series is ${formatLabels(top.metric)} (${top.value?.[1]}), not ${want}` };
}

/**
 * The order to start scenarios in: those that run alone first, then those touching the most contended
 * services (the services most scenarios touch), so the longest chain of scenarios that must wait for
 * each other starts first; otherwise by name.
 */
export function scheduleOrder(scenarios) {
  const load = new Map();
  for (const scenario of scenarios)
    for (const service of scenario.touches) load.set(service, (load.get(service) ?? 0) + 1);
  const alone = (scenario) =>
    scenario.alone === true || scenario.touches.some((service) => EXCLUSIVE.includes(service));
  const weight = (scenario) =>
    alone(scenario) ? Infinity : Math.max(...scenario.touches.map((service) => load.get(service)));
  return [...scenarios].sort((a, b) => weight(b) - weight(a) || a.name.localeCompare(b.name));
}

/**
 * Which of the `pending` scenarios can start now, beside the `running` ones, in order: none that touches
 * a service a running (or an earlier started) one touches; one touching the alert-webhook only alone.
 */
export function startable(pending, running) {
  const exclusive = (scenario) =>
    scenario.alone === true || scenario.touches.some((service) => EXCLUSIVE.includes(service));
  const busy = [...running];
  const chosen = [];
  for (const scenario of pending) {
    const free =
      busy.length === 0 ||
      (!exclusive(scenario) &&
        busy.every(
          (other) =>
            !exclusive(other) && !other.touches.some((service) => scenario.touches.includes(service)),
        ));
    if (free) {
      chosen.push(scenario);
      busy.push(scenario);
    }
  }
  return chosen;
}

/**
 * Groups of scenarios to run at the same time: no two in a group touch the same service (greedy, in
 * order); one that touches the alert-webhook runs alone.
 */
export function concurrentGroups(scenarios) {
  const groups = [];
  const exclusive = (scenario) =>
    scenario.alone === true || scenario.touches.some((service) => EXCLUSIVE.includes(service));
  for (const scenario of scenarios) {
    const group = groups.find(
      (candidate) =>
        !exclusive(scenario) &&
        candidate.every(
          (other) =>
            !exclusive(other) && !other.touches.some((service) => scenario.touches.includes(service)),
        ),
    );
    if (group) group.push(scenario);
    else groups.push([scenario]);
  }
  return groups;
}

// ---------------------------------------------------------------------------------------------
// Validation.

const isObject = (value) => typeof value === 'object' && value !== null && !Array.isArray(value);
const isLabels = (value) => isObject(value) && Object.values(value).every((v) => typeof v === 'string');

/** Checks one definition; returns the list of problems, each naming its field. */
export function problemsOf(definition, fileName) {
  const problems = [];
  const fail = (field, message) => problems.push(`${field}: ${message}`);
  const unknownKeys = (value, field, allowed) => {
    for (const key of Object.keys(value))
      if (!allowed.includes(key))
        fail(field ? `${field}.${key}` : key, `unknown field (known: ${allowed.join(', ')})`);
  };
  const string = (value, field) => {
    if (typeof value !== 'string' || value.trim() === '') fail(field, 'must be a non-empty string');
  };
  const duration = (value, field) => {
    if (parseDuration(value) === undefined)
      fail(field, `${JSON.stringify(value)} is not a duration like 30s, 4m, 1m30s`);
  };
  const labels = (value, field) => {
    if (!isLabels(value)) fail(field, 'must be an object of label names to string values');
  };
  const alertRef = (value, field, { within }) => {
    if (!isObject(value))
      return fail(field, 'must be an object { name, labels' + (within ? ', within }' : ' }'));
    unknownKeys(value, field, within ? ['name', 'labels', 'within'] : ['name', 'labels']);
    string(value.name, `${field}.name`);
    labels(value.labels ?? {}, `${field}.labels`);
    if (within) duration(value.within, `${field}.within`);
  };

  if (!isObject(definition)) return ['the module must `export default` an object'];
  unknownKeys(definition, '', [
    'name',
    'title',
    'summary',
    'touches',
    'requires',
    'traffic',
    'steadyState',
    'inject',
    'undo',
    'alert',
    'alsoFires',
    'runbook',
    'symptom',
    'recovery',
    'hold',
    'notify',
    'alone',
    'docs',
  ]);
  string(definition.name, 'name');
  if (typeof definition.name === 'string') {
    if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(definition.name))
      fail('name', `"${definition.name}" is not kebab-case`);
    else if (fileName && definition.name !== fileName)
      fail('name', `"${definition.name}" differs from the file name "${fileName}"`);
  }
  string(definition.title, 'title');
  string(definition.summary, 'summary');

  if (!Array.isArray(definition.touches) || definition.touches.length === 0)
    fail('touches', `must be a non-empty array of ${TOUCHABLE.join(', ')}`);
  else
    for (const service of definition.touches)
      if (!TOUCHABLE.includes(service)) fail('touches', `"${service}" is not one of ${TOUCHABLE.join(', ')}`);

  if (definition.requires !== undefined) {
    if (!Array.isArray(definition.requires)) fail('requires', 'must be an array of strings');
    else definition.requires.forEach((value, i) => string(value, `requires[${i}]`));
  }

  if (!Array.isArray(definition.traffic)) fail('traffic', 'must be an array (empty for none)');
  else
    definition.traffic.forEach((entry, i) => {
      const field = `traffic[${i}]`;
      if (!isObject(entry)) return fail(field, 'must be an object { name, method, path, perSecond }');
      unknownKeys(entry, field, ['name', 'method', 'path', 'perSecond', 'auth', 'body', 'headers']);
      string(entry.name, `${field}.name`);
      if (!METHODS.includes(entry.method)) fail(`${field}.method`, `must be one of ${METHODS.join(', ')}`);
      if (typeof entry.path !== 'string' || !entry.path.startsWith('/'))
        fail(`${field}.path`, 'must start with /');
      if (typeof entry.perSecond !== 'number' || !(entry.perSecond > 0) || entry.perSecond > MAX_PER_SECOND)
        fail(`${field}.perSecond`, `must be a number above 0 and at most ${MAX_PER_SECOND}`);
      if (entry.auth !== undefined && !AUTH.includes(entry.auth))
        fail(`${field}.auth`, `must be one of ${AUTH.join(', ')}`);
      for (const key of ['body', 'headers'])
        if (entry[key] !== undefined && !isObject(entry[key]) && typeof entry[key] !== 'function')
          fail(`${field}.${key}`, 'must be an object or a function (ctx) => object');
    });

  if (definition.steadyState !== undefined) {
    const steady = definition.steadyState;
    if (!isObject(steady)) fail('steadyState', 'must be an object { quiet?, queries? }');
    else {
      unknownKeys(steady, 'steadyState', ['quiet', 'queries']);
      if (steady.quiet !== undefined) {
        if (!Array.isArray(steady.quiet)) fail('steadyState.quiet', 'must be an array');
        else
          steady.quiet.forEach((entry, i) => {
            if (typeof entry !== 'string') alertRef(entry, `steadyState.quiet[${i}]`, { within: false });
            else string(entry, `steadyState.quiet[${i}]`);
          });
      }
      if (steady.queries !== undefined) {
        if (!Array.isArray(steady.queries)) fail('steadyState.queries', 'must be an array');
        else
          steady.queries.forEach((query, i) => {
            const field = `steadyState.queries[${i}]`;
            if (!isObject(query)) return fail(field, 'must be an object { expr, below } or { expr, above }');
            unknownKeys(query, field, ['expr', 'below', 'above']);
            string(query.expr, `${field}.expr`);
            const bounds = ['below', 'above'].filter((key) => query[key] !== undefined);
            if (bounds.length !== 1 || typeof query[bounds[0]] !== 'number')
              fail(field, 'needs exactly one number: below or above');
          });
      }
    }
  }

  const inject = definition.inject;
  if (!isObject(inject)) fail('inject', 'must be an object: { fault }, { pause } or { run, undo }');
  else {
    const kinds = ['fault', 'pause', 'run'].filter((key) => inject[key] !== undefined);
    if (kinds.length !== 1)
      fail('inject', `needs exactly one of fault, pause, run (has ${kinds.join(', ') || 'none'})`);
    unknownKeys(inject, 'inject', ['fault', 'pause', 'run', 'undo']);
    if (inject.fault !== undefined) {
      const fault = inject.fault;
      if (!isObject(fault)) fail('inject.fault', 'must be an object { service, body }');
      else {
        unknownKeys(fault, 'inject.fault', ['service', 'body']);
        if (!TOUCHABLE.slice(0, 5).includes(fault.service))
          fail('inject.fault.service', `must be one of ${TOUCHABLE.slice(0, 5).join(', ')}`);
        if (!isObject(fault.body) || Object.keys(fault.body).length === 0)
          fail('inject.fault.body', `must be an object with some of ${FAULT_KEYS.join(', ')}`);
        else unknownKeys(fault.body, 'inject.fault.body', FAULT_KEYS);
      }
    }
    if (inject.pause !== undefined && !TOUCHABLE.includes(inject.pause))
      fail('inject.pause', `must be one of ${TOUCHABLE.join(', ')}`);
    if (inject.run !== undefined && typeof inject.run !== 'function')
      fail('inject.run', 'must be a function (ctx) => Promise');
    if (inject.run !== undefined && typeof inject.undo !== 'function')
      fail('inject.undo', 'inject.run needs its undo: a function (ctx) => Promise');
    if (inject.run === undefined && inject.undo !== undefined) fail('inject.undo', 'only with inject.run');
    const touched = inject.fault?.service ?? inject.pause;
    if (touched && Array.isArray(definition.touches)) {
      if (!definition.touches.includes(touched))
        fail('touches', `must include "${touched}", which inject changes`);
      else
        for (const caller of CALLERS[touched] ?? [])
          if (!definition.touches.includes(caller))
            fail('touches', `must include "${caller}" too: it calls ${touched}, which inject changes`);
    }
  }
  if (definition.undo !== undefined)
    fail(
      'undo',
      'is derived from inject (faults put back, pause resumed); use inject.run + inject.undo for anything else',
    );

  // No alert (`alert: null`): the check is that nothing fires while the fault is in, for `hold`.
  const noAlert = definition.alert === null;
  if (noAlert) {
    duration(definition.hold, 'hold');
    if (definition.recovery !== undefined) fail('recovery', 'has nothing to wait for without an alert');
    const quiet = definition.steadyState?.quiet;
    if (!Array.isArray(quiet) || quiet.length === 0)
      fail('steadyState.quiet', 'must name the alerts that must stay quiet when alert is null');
  } else {
    alertRef(definition.alert, 'alert', { within: true });
    if (definition.hold !== undefined) fail('hold', 'only with alert: null');
  }
  if (definition.alsoFires !== undefined) {
    if (!Array.isArray(definition.alsoFires)) fail('alsoFires', 'must be an array');
    else definition.alsoFires.forEach((entry, i) => alertRef(entry, `alsoFires[${i}]`, { within: false }));
  }

  if (!Array.isArray(definition.runbook) || (definition.runbook.length === 0 && !noAlert))
    fail('runbook', `must be a${noAlert ? 'n' : ' non-empty'} array of { expr, culprit }`);
  else
    definition.runbook.forEach((step, i) => {
      const field = `runbook[${i}]`;
      if (!isObject(step)) return fail(field, 'must be an object { expr, culprit, vars?, match? }');
      unknownKeys(step, field, ['expr', 'vars', 'culprit', 'match']);
      string(step.expr, `${field}.expr`);
      if (!isLabels(step.culprit) || Object.keys(step.culprit).length === 0)
        fail(`${field}.culprit`, 'must be labels the answer must carry, e.g. { service: "product" }');
      if (step.vars !== undefined) labels(step.vars, `${field}.vars`);
      if (step.match !== undefined && !MATCH.includes(step.match))
        fail(`${field}.match`, `must be one of ${MATCH.join(', ')}`);
      if (typeof step.expr === 'string') {
        const vars = { ...(isObject(definition.alert) ? definition.alert.labels : {}), ...step.vars };
        try {
          fillPlaceholders(step.expr, vars);
        } catch (error) {
          fail(`${field}.expr`, error.message);
        }
      }
    });

  if (definition.alone !== undefined && typeof definition.alone !== 'boolean')
    fail('alone', 'must be true or false');
  if (definition.notify !== undefined && !NOTIFY.includes(definition.notify))
    fail('notify', `must be one of ${NOTIFY.join(', ')} (where the "notified" step looks for the alert)`);

  if (definition.symptom !== undefined && definition.symptom !== false) {
    const symptom = definition.symptom;
    if (!isObject(symptom)) fail('symptom', 'must be { status?, slowerThanMs? } or false');
    else {
      unknownKeys(symptom, 'symptom', ['status', 'slowerThanMs']);
      if (symptom.status === undefined && symptom.slowerThanMs === undefined)
        fail('symptom', 'needs status or slowerThanMs');
      if (symptom.status !== undefined && symptom.status !== '5xx' && !Number.isInteger(symptom.status))
        fail('symptom.status', "must be '5xx' or a status code");
      if (symptom.slowerThanMs !== undefined && !(symptom.slowerThanMs > 0))
        fail('symptom.slowerThanMs', 'must be above 0');
    }
  }

  if (noAlert) {
    // checked above
  } else if (!isObject(definition.recovery)) fail('recovery', 'must be an object { within }');
  else {
    unknownKeys(definition.recovery, 'recovery', ['within']);
    duration(definition.recovery.within, 'recovery.within');
  }

  if (!isObject(definition.docs)) fail('docs', 'must be an object { sees, find, inject?, alerts?, undo? }');
  else {
    unknownKeys(definition.docs, 'docs', ['inject', 'sees', 'alerts', 'find', 'undo']);
    string(definition.docs.sees, 'docs.sees');
    string(definition.docs.find, 'docs.find');
    for (const key of ['inject', 'alerts', 'undo'])
      if (definition.docs[key] !== undefined) string(definition.docs[key], `docs.${key}`);
    if (isObject(inject) && inject.fault === undefined && definition.docs.inject === undefined)
      fail('docs.inject', 'is needed unless inject is a fault (whose chaos command is derived)');
  }
  return problems;
}

/** Throws a ScenarioError listing every problem, each prefixed with the file. */
export function validateScenario(definition, file) {
  const fileName = basename(file).replace(/\.mjs$/, '');
  const problems = problemsOf(definition, fileName);
  if (problems.length > 0)
    throw new ScenarioError(problems.map((problem) => `${file}: ${problem}`).join('\n'));
  return definition;
}

/** Every `<dir>/*.mjs`, imported and validated, by name; throws one error listing every problem of every file. */
export async function loadScenarios(dir) {
  let files;
  try {
    files = readdirSync(dir)
      .filter((name) => name.endsWith('.mjs'))
      .sort();
  } catch (error) {
    throw new ScenarioError(`cannot read the scenario definitions in ${dir}: ${error.message}`);
  }
  const scenarios = [];
  const problems = [];
  for (const name of files) {
    const file = join(dir, name);
    try {
      const module = await import(pathToFileURL(file).href);
      scenarios.push(validateScenario(module.default, file));
    } catch (error) {
      problems.push(error instanceof ScenarioError ? error.message : `${file}: ${error.message}`);
    }
  }
  if (problems.length > 0) throw new ScenarioError(problems.join('\n'));
  return scenarios;
}

// ---------------------------------------------------------------------------------------------
// Commands and docs.

/** The `npm run chaos` commands doing what a fault body does (for the docs and the undo hint). */
export function chaosCommands(service, body) {
  const commands = [];
  const latency = body.latency;
  if (latency === null) commands.push(`npm run chaos -- ${service} latency off`);
  else if (latency)
    commands.push(
      `npm run chaos -- ${service} latency ${latency.minMs === latency.maxMs ? latency.minMs : `${latency.minMs}-${latency.maxMs}`}`,
    );
  if (body.errorRatio !== undefined)
    commands.push(`npm run chaos -- ${service} errors ${body.errorRatio > 0 ? body.errorRatio : 'off'}`);
  if (body.unreachable !== undefined)
    commands.push(
      `npm run chaos -- ${service} unreachable ${body.unreachable.length > 0 ? body.unreachable.join(',') : 'none'}`,
    );
  if (body.readinessFailing !== undefined)
    commands.push(`npm run chaos -- ${service} readiness ${body.readinessFailing ? 'fail' : 'ok'}`);
  if (body.memoryMb !== undefined)
    commands.push(`npm run chaos -- ${service} memory ${body.memoryMb > 0 ? body.memoryMb : 'off'}`);
  if (body.eventLoopBlockMs !== undefined)
    commands.push(
      `npm run chaos -- ${service} eventloop ${body.eventLoopBlockMs > 0 ? body.eventLoopBlockMs : 'off'}`,
    );
  return commands;
}

const alertText = (ref) =>
  `\`${ref.name}\`${
    Object.keys(ref.labels ?? {}).length > 0
      ? ` (${Object.entries(ref.labels)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')})`
      : ''
  }`;
const anchor = (name) =>
  name
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1-$2')
    .toLowerCase();

/** The generated Markdown of one scenario (between its markers in docs/scenarios.md). */
export function scenarioMarkdown(scenario) {
  const { inject, alert, docs } = scenario;
  const lines = [`## ${scenario.title}`, '', `_${scenario.summary}_`, ''];
  lines.push(
    `**Run it.** \`npm run scenario -- ${scenario.name}\` (touches ${scenario.touches.join(', ')}${
      scenario.requires?.length ? `; needs ${scenario.requires.join(', ')}` : ''
    }): ${alert ? 'steady state, inject, alert, runbook queries, trace, undo, recovery' : 'steady state, inject, hold (nothing may fire), trace, undo'}.`,
    '',
  );
  let injectText;
  if (inject.fault) {
    const commands = chaosCommands(inject.fault.service, inject.fault.body);
    injectText = `${commands.map((command) => `\`${command}\``).join(', then ')}${docs.inject ? `. ${docs.inject}` : '.'}`;
  } else injectText = docs.inject;
  lines.push(`**Inject.** ${injectText}`, '');
  lines.push(`**What the traffic sees.** ${docs.sees}`, '');
  const also = (scenario.alsoFires ?? []).map(alertText);
  const alertsText = alert
    ? `${alertText(alert)} within ${alert.within} ([runbook](runbooks.md#${anchor(alert.name)}))${also.length > 0 ? `; also ${also.join(', ')}` : ''}.`
    : `None may fire: the runner checks for ${scenario.hold} that ${scenario.steadyState.quiet
        .map((ref) => (typeof ref === 'string' ? `\`${ref}\`` : alertText(ref)))
        .join(', ')} ${scenario.steadyState.quiet.length === 1 ? 'stays' : 'stay'} quiet.`;
  lines.push(`**Alerts.** ${alertsText}${docs.alerts ? ` ${docs.alerts}` : ''}`, '');
  lines.push(`**Find the cause.**`, '', docs.find.trim(), '');
  if (scenario.runbook.length > 0) {
    lines.push(
      'The runbook queries the scenario checks (it fills in the placeholders and names the culprit):',
      '',
    );
    lines.push('```promql');
    lines.push(
      scenario.runbook
        .map((step) => fillPlaceholders(step.expr, { ...alert?.labels, ...step.vars }))
        .join('\n\n'),
    );
    lines.push('```', '');
    const culprits = scenario.runbook.map(
      (step) =>
        `${formatLabels(step.culprit)}${step.match && step.match !== 'top' ? ` (${step.match} series)` : ''}`,
    );
    lines.push(`Culprit named: ${culprits.map((text) => `\`${text}\``).join(', ')}.`, '');
  }
  let undoText;
  if (inject.fault) {
    const inverse = {};
    for (const key of Object.keys(inject.fault.body)) inverse[key] = FAULT_OFF[key];
    undoText = `${chaosCommands(inject.fault.service, inverse)
      .map((command) => `\`${command}\``)
      .join(', ')} (or \`npm run chaos -- ${inject.fault.service} off\`).`;
  } else undoText = '';
  if (docs.undo) undoText = `${undoText} ${docs.undo}`.trim();
  lines.push(
    `**Undo.** ${undoText || 'The runner undoes it.'}${alert ? ` Recovery: the alert resolves within ${scenario.recovery.within}.` : ''}`,
  );
  return lines.join('\n');
}

/** GitHub's anchor of a Markdown heading. */
export const headingAnchor = (heading) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

/** Every alert rule of a rules directory (infra/prometheus/rules): `{ name, severity, file }`, in file order. */
export function alertRules(rulesDir) {
  return readdirSync(rulesDir)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .flatMap((file) =>
      parse(readFileSync(join(rulesDir, file), 'utf8')).groups.flatMap((group) =>
        group.rules
          .filter((rule) => rule.alert)
          .map((rule) => ({ name: rule.alert, severity: rule.labels?.severity ?? '', file })),
      ),
    );
}

/** The table of every alert and the scenarios that fire it (as their alert, or also). */
export function alertsTable(alerts, scenarios) {
  const lines = [
    '| alert | severity | scenario (`npm run scenario -- <name>`) | needs |',
    '|---|---|---|---|',
  ];
  for (const alert of alerts) {
    const main = scenarios.filter((s) => s.alert?.name === alert.name);
    const also = scenarios.filter(
      (s) => s.alert?.name !== alert.name && (s.alsoFires ?? []).some((ref) => ref.name === alert.name),
    );
    const link = (s) => `[${s.name}](#${headingAnchor(s.title)})`;
    const cell = [...main.map(link), ...also.map((s) => `${link(s)} (also)`)].join(', ') || 'none yet';
    const needs = [...new Set(main.flatMap((s) => s.requires ?? []))];
    const local = main.length === 0 ? '' : main.some((s) => !s.requires?.length) ? '-' : needs.join(', ');
    lines.push(
      `| [\`${alert.name}\`](runbooks.md#${anchor(alert.name)}) | ${alert.severity} | ${cell} | ${local} |`,
    );
  }
  return lines.join('\n');
}

const BLOCK = /<!-- scenario:([a-z0-9-]+) -->\n[\s\S]*?<!-- \/scenario -->/g;
const ALERTS_BLOCK = /<!-- alerts -->\n[\s\S]*?<!-- \/alerts -->/;
const END_OF_SCENARIOS = '<!-- /scenarios -->';

/**
 * docs/scenarios.md with its generated parts rewritten: the alerts table between `<!-- alerts -->` and
 * `<!-- /alerts -->`, every `<!-- scenario:<name> -->` … `<!-- /scenario -->` block, and a block for each
 * definition that has none yet, added before `<!-- /scenarios -->`. Throws on a block without a
 * definition (so a scenario cannot drop out of the docs silently either way).
 */
export function renderScenarioDocs(markdown, scenarios, alerts) {
  const byName = new Map(scenarios.map((scenario) => [scenario.name, scenario]));
  const seen = new Set();
  const block = (scenario) =>
    `<!-- scenario:${scenario.name} -->\n${scenarioMarkdown(scenario)}\n<!-- /scenario -->`;
  let out = markdown.replace(BLOCK, (whole, name) => {
    const scenario = byName.get(name);
    if (!scenario)
      throw new ScenarioError(
        `docs/scenarios.md has a block for "${name}", which has no scenarios/${name}.mjs`,
      );
    seen.add(name);
    return block(scenario);
  });
  const missing = scenarios.filter((scenario) => !seen.has(scenario.name));
  if (missing.length > 0) {
    if (!out.includes(END_OF_SCENARIOS))
      throw new ScenarioError(
        `docs/scenarios.md has no ${END_OF_SCENARIOS} marker to add ${missing.map((s) => s.name).join(', ')} before`,
      );
    out = out.replace(
      END_OF_SCENARIOS,
      `${missing.map((scenario) => `${block(scenario)}\n\n`).join('')}${END_OF_SCENARIOS}`,
    );
  }
  if (!ALERTS_BLOCK.test(out))
    throw new ScenarioError('docs/scenarios.md has no <!-- alerts --> … <!-- /alerts --> block');
  return out.replace(
    ALERTS_BLOCK,
    () => `<!-- alerts -->\n${alertsTable(alerts, scenarios)}\n<!-- /alerts -->`,
  );
}
