// Prometheus, Alertmanager and the alert-webhook for the local lab (`npm start`, and the tests that run
// them): their configuration derived from the Compose stack's own files, so the local lab alerts with
// the same jobs, rules and routes.
//
// - infra/prometheus/prometheus.yml: the jobs whose targets run here (the five services, the monitoring
//   stack itself, RabbitMQ's plugin when the broker runs) with their Compose targets rewritten to local
//   addresses; the others (Grafana, node-exporter, cAdvisor, the blackbox exporter and its probes) are
//   left out, their rules stay loaded and quiet.
// - infra/prometheus/rules/*.yml: the same rules. With a scrape and evaluation interval shorter than
//   Compose's 15 s (PROMETHEUS_INTERVAL), everything time-based in them scales by r = 15 s / interval:
//   each `for:` (and keep_firing_for) and each range selector, subquery and offset in the expressions, so
//   an alert fires and resolves after the same number of evaluations as under Compose. Thresholds and
//   expressions are otherwise unchanged. A range never gets shorter than 4 intervals (rate() needs samples).
// - infra/alertmanager/alertmanager.yml: the webhook at the local alert-webhook with its token in a file,
//   group_wait, group_interval and repeat_interval divided by r too.
//
// Plain Node ESM (no build): scripts/start.mjs imports it, and so do the specs (types in monitoring.d.mts).
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const PROMETHEUS_DIR = join(root, 'infra/prometheus');
export const PROMETHEUS_FILE = join(PROMETHEUS_DIR, 'prometheus.yml');
export const ALERTMANAGER_FILE = join(root, 'infra/alertmanager/alertmanager.yml');
/** Compose's scrape and evaluation interval: the rules are written for it. */
export const COMPOSE_INTERVAL_MS = 15_000;
/** Prometheus' default `--rules.alert.resend-delay`: how often a firing alert is sent again. */
const RESEND_DELAY_MS = 60_000;
/** The commands, in order of preference: Debian/Ubuntu name Alertmanager's binary prometheus-alertmanager, Homebrew alertmanager. */
export const PROMETHEUS_COMMANDS = ['prometheus'];
export const ALERTMANAGER_COMMANDS = ['prometheus-alertmanager', 'alertmanager'];
export const INSTALL_HINT =
  'sudo apt install prometheus prometheus-alertmanager (macOS: brew install prometheus alertmanager)';

const UNITS_MS = {
  y: 31_536_000_000,
  w: 604_800_000,
  d: 86_400_000,
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
};
const DURATION = /^(?:\d+(?:ms|s|m|h|d|w|y))+$/;

/** A Prometheus duration (`1m30s`, `500ms`) in milliseconds; throws on anything else. */
export function parseDuration(text) {
  const value = String(text).trim();
  if (!DURATION.test(value)) throw new Error(`not a Prometheus duration: ${JSON.stringify(text)}`);
  let total = 0;
  for (const [, amount, unit] of value.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g))
    total += Number(amount) * UNITS_MS[unit];
  return total;
}

/** Milliseconds as a Prometheus duration: 90_000 → `1m30s`, 667 → `667ms`, 0 → `0s`. */
export function formatDuration(ms) {
  let rest = Math.round(ms);
  if (rest <= 0) return '0s';
  let text = '';
  for (const unit of ['h', 'm', 's', 'ms']) {
    const amount = Math.floor(rest / UNITS_MS[unit]);
    if (amount > 0) text += `${amount}${unit}`;
    rest -= amount * UNITS_MS[unit];
  }
  return text;
}

/** r = 15 s / interval: how much faster than Compose the local Prometheus evaluates. */
export function scaleRatio(intervalMs) {
  return COMPOSE_INTERVAL_MS / intervalMs;
}

/** A duration divided by r, never below `floorMs` (a zero duration stays zero). */
export function scaleDuration(text, r, floorMs = 0) {
  const ms = parseDuration(text);
  if (ms === 0 || r === 1) return text;
  return formatDuration(Math.max(floorMs, Math.round(ms / r)));
}

/**
 * A PromQL expression with each range selector (`[5m]`), subquery (`[30m:1m]`) and offset (`offset 5m`)
 * divided by r; ranges never below `minRangeMs`. String literals and comments are left as they are
 * (a regular expression's `[a-z]` is no range).
 */
export function scaleExpression(expr, r, { minRangeMs = 0 } = {}) {
  if (r === 1) return expr;
  let out = '';
  let i = 0;
  while (i < expr.length) {
    const c = expr[i];
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < expr.length && expr[j] !== c) j += expr[j] === '\\' && c !== '`' ? 2 : 1;
      out += expr.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === '#') {
      const end = expr.indexOf('\n', i);
      const j = end < 0 ? expr.length : end;
      out += expr.slice(i, j);
      i = j;
      continue;
    }
    if (c === '[') {
      const range = /^\[\s*(\w+)\s*(?:(:)\s*(\w*)\s*)?\]/.exec(expr.slice(i));
      if (range && DURATION.test(range[1]) && (!range[3] || DURATION.test(range[3]))) {
        const step = range[2] ? `:${range[3] ? scaleDuration(range[3], r) : ''}` : '';
        out += `[${scaleDuration(range[1], r, minRangeMs)}${step}]`;
        i += range[0].length;
        continue;
      }
    }
    if (c === 'o' && (i === 0 || !/[\w:]/.test(expr[i - 1]))) {
      const offset = /^offset(\s+)(-?)(\w+)/.exec(expr.slice(i));
      if (offset && DURATION.test(offset[3])) {
        out += `offset${offset[1]}${offset[2]}${scaleDuration(offset[3], r)}`;
        i += offset[0].length;
        continue;
      }
    }
    out += c;
    i++;
  }
  return out;
}

/** A rule file (parsed) with every `for:`, `keep_firing_for:`, group interval and expression scaled by r. */
export function scaleRuleFile(ruleFile, intervalMs) {
  const r = scaleRatio(intervalMs);
  const copy = structuredClone(ruleFile);
  for (const group of copy.groups ?? []) {
    if (group.interval) group.interval = scaleDuration(group.interval, r, intervalMs);
    for (const rule of group.rules ?? []) {
      if (rule.for) rule.for = scaleDuration(rule.for, r);
      if (rule.keep_firing_for) rule.keep_firing_for = scaleDuration(rule.keep_firing_for, r);
      rule.expr = scaleExpression(String(rule.expr), r, { minRangeMs: 4 * intervalMs });
    }
  }
  return copy;
}

/** The rule files infra/prometheus/prometheus.yml loads (its rule_files globs, relative to its folder). */
export function composeRuleFiles(composeConfig = readYaml(PROMETHEUS_FILE)) {
  const files = [];
  for (const pattern of composeConfig.rule_files ?? []) {
    const dir = join(PROMETHEUS_DIR, dirname(pattern));
    const name = new RegExp(
      `^${pattern
        .split('/')
        .pop()
        .replace(/[.+^${}()|\\]/g, '\\$&')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]')}$`,
    );
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir).sort()) if (name.test(entry)) files.push(join(dir, entry));
  }
  return files;
}

/**
 * infra/prometheus/prometheus.yml for a local lab: global intervals set to `intervalMs` (timeout at most
 * that), the jobs whose every target has a local address in `targets` (Compose target → `host:port`) kept
 * with it, the others left out (and those that move `__address__`, the blackbox probes); per-job intervals
 * scaled; rule_files `rules`; alerts to the local Alertmanager when `targets` has it.
 */
export function localPrometheusConfig(composeConfig, { intervalMs, targets, rules }) {
  const config = structuredClone(composeConfig);
  const r = scaleRatio(intervalMs);
  const timeout = Math.min(parseDuration(config.global?.scrape_timeout ?? '10s'), intervalMs);
  config.global = {
    ...config.global,
    scrape_interval: formatDuration(intervalMs),
    scrape_timeout: formatDuration(timeout),
    evaluation_interval: formatDuration(intervalMs),
  };
  config.rule_files = rules;
  const local = (target) => targets[target];
  const alertmanagers = (config.alerting?.alertmanagers ?? [])
    .map((alertmanager) => ({
      ...alertmanager,
      static_configs: (alertmanager.static_configs ?? [])
        .map((group) => ({ ...group, targets: group.targets.filter(local).map(local) }))
        .filter((group) => group.targets.length > 0),
    }))
    .filter((alertmanager) => alertmanager.static_configs.length > 0);
  if (alertmanagers.length > 0) config.alerting = { ...config.alerting, alertmanagers };
  else delete config.alerting;

  const kept = [];
  const left = [];
  for (const job of config.scrape_configs ?? []) {
    const jobTargets = (job.static_configs ?? []).flatMap((group) => group.targets);
    const movesAddress = (job.relabel_configs ?? []).some(
      (relabel) => relabel.target_label === '__address__',
    );
    if (jobTargets.length === 0 || movesAddress || !jobTargets.every(local)) {
      left.push(job.job_name);
      continue;
    }
    for (const group of job.static_configs) group.targets = group.targets.map(local);
    if (job.scrape_interval) job.scrape_interval = scaleDuration(job.scrape_interval, r, intervalMs);
    if (job.scrape_interval || job.scrape_timeout) {
      const interval = parseDuration(job.scrape_interval ?? formatDuration(intervalMs));
      const jobTimeout = job.scrape_timeout ? parseDuration(job.scrape_timeout) / r : timeout;
      job.scrape_timeout = formatDuration(Math.min(interval, Math.max(jobTimeout, 1)));
    }
    kept.push(job);
  }
  config.scrape_configs = kept;
  return { config, kept: kept.map((job) => job.job_name), left };
}

/**
 * infra/alertmanager/alertmanager.yml for a local lab: every webhook at `webhookUrl` (same path), its
 * bearer token from `tokenFile`; group_wait, group_interval and repeat_interval of every route divided by r.
 */
export function localAlertmanagerConfig(composeConfig, { intervalMs, webhookUrl, tokenFile }) {
  const config = structuredClone(composeConfig);
  const r = scaleRatio(intervalMs);
  const visit = (route) => {
    for (const key of ['group_wait', 'group_interval', 'repeat_interval'])
      if (route[key]) route[key] = scaleDuration(route[key], r);
    route.routes?.forEach(visit);
  };
  visit(config.route);
  const base = new URL(webhookUrl);
  for (const receiver of config.receivers ?? []) {
    for (const webhook of receiver.webhook_configs ?? []) {
      const url = new URL(webhook.url);
      webhook.url = new URL(`${url.pathname}${url.search}`, base).href;
      const authorization = webhook.http_config?.authorization;
      if (authorization?.credentials_file) authorization.credentials_file = tokenFile;
    }
  }
  return config;
}

/**
 * Writes the local configuration into `dir`: prometheus.yml, rules/*.yml (scaled), alertmanager.yml and
 * the webhook's token (mode 0600). `targets`: Compose target → local `host:port` (see
 * {@link monitoringTargets}). Returns the files and which jobs were kept and left out.
 */
export function writeMonitoringConfig({ dir, intervalMs, targets, webhookUrl, token }) {
  const rulesDir = join(dir, 'rules');
  rmSync(rulesDir, { recursive: true, force: true });
  mkdirSync(rulesDir, { recursive: true });
  const composePrometheus = readYaml(PROMETHEUS_FILE);
  for (const file of composeRuleFiles(composePrometheus)) {
    const name = file.split('/').pop();
    const header = `# Generated from infra/prometheus/rules/${name} (time scaled by ${formatRatio(scaleRatio(intervalMs))}): edit that file, not this one.\n`;
    writeFileSync(join(rulesDir, name), header + stringify(scaleRuleFile(readYaml(file), intervalMs)));
  }
  const prometheus = localPrometheusConfig(composePrometheus, {
    intervalMs,
    targets,
    rules: [join(rulesDir, '*.yml')],
  });
  const prometheusFile = join(dir, 'prometheus.yml');
  writeFileSync(
    prometheusFile,
    `# Generated by npm start from infra/prometheus/prometheus.yml: edit that file, not this one.\n${stringify(prometheus.config)}`,
  );
  const tokenFile = join(dir, 'alert-webhook-token');
  rmSync(tokenFile, { force: true });
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const alertmanagerFile = join(dir, 'alertmanager.yml');
  writeFileSync(
    alertmanagerFile,
    `# Generated by npm start from infra/alertmanager/alertmanager.yml: edit that file, not this one.\n${stringify(
      localAlertmanagerConfig(readYaml(ALERTMANAGER_FILE), { intervalMs, webhookUrl, tokenFile }),
    )}`,
  );
  return {
    prometheusFile,
    alertmanagerFile,
    rulesDir,
    tokenFile,
    kept: prometheus.kept,
    left: prometheus.left,
  };
}

/**
 * Compose target → local address, for {@link localPrometheusConfig}: each service (`order:3004` → its
 * local address), Prometheus, Alertmanager, the webhook and, when given, RabbitMQ's Prometheus plugin.
 */
export function monitoringTargets({ services, prometheus, alertmanager, alertWebhook, rabbitmq }) {
  const composePorts = { gateway: 3000, oauth: 3001, customer: 3002, product: 3003, order: 3004 };
  const targets = {
    'localhost:9090': prometheus,
    'alertmanager:9093': alertmanager,
    'alert-webhook:9095': alertWebhook,
  };
  if (rabbitmq) targets['rabbitmq:15692'] = rabbitmq;
  for (const [service, address] of Object.entries(services))
    if (composePorts[service]) targets[`${service}:${composePorts[service]}`] = address;
  return targets;
}

/** Prometheus' command line for the local lab (the resend delay of firing alerts scaled like the rules). */
export function prometheusArgs({ configFile, dataDir, port, intervalMs }) {
  return [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${dataDir}`,
    '--storage.tsdb.retention.time=7d',
    `--web.listen-address=127.0.0.1:${port}`,
    `--web.external-url=http://127.0.0.1:${port}`,
    '--enable-feature=exemplar-storage',
    `--rules.alert.resend-delay=${formatDuration(Math.max(intervalMs, RESEND_DELAY_MS / scaleRatio(intervalMs)))}`,
  ];
}

/** Alertmanager's command line for the local lab: one instance, no cluster port. */
export function alertmanagerArgs({ configFile, dataDir, port }) {
  return [
    `--config.file=${configFile}`,
    `--storage.path=${dataDir}`,
    `--web.listen-address=127.0.0.1:${port}`,
    `--web.external-url=http://127.0.0.1:${port}`,
    '--cluster.listen-address=',
  ];
}

/** The first of `names` found on PATH (its full path), or undefined. */
export function findCommand(names, path = process.env.PATH ?? '') {
  for (const name of names) {
    for (const dir of path.split(delimiter).filter(Boolean)) {
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

function formatRatio(r) {
  return r === 1 ? '1 (Compose)' : `1/${Number.isInteger(r) ? r : r.toFixed(2)}`;
}

function readYaml(file) {
  return parse(readFileSync(file, 'utf8'));
}
