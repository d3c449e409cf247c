import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '#lab/testing';

// The Grafana, Kibana and Fluentd configuration of the Compose stack, checked without their servers:
// each file parses, every reference between them resolves (data source uids, saved object ids, index
// names, mounted paths), the PromQL of the dashboards is valid (promtool) and names only the metrics
// and labels the lab exposes, and infra/kibana/setup.sh is run against a stand-in Kibana API.
// The Prometheus end-to-end suite (test/infra) also runs this PromQL against a Prometheus scraping the lab.

const read = (file: string) => readFileSync(join(repoRoot, file), 'utf8');
const optional = (file: string) => (existsSync(join(repoRoot, file)) ? read(file) : undefined);

/** The `.env` Compose reads (versions, host ports), or an empty map without one. */
const dotEnv: Record<string, string> = Object.fromEntries(
  (optional('.env') ?? '')
    .split('\n')
    .map((line) => /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line))
    .filter((match) => match !== null)
    .map((match) => [match[1], match[2]]),
);
const composeText = optional('docker-compose.yml') ?? '';

// ------------------------------------------------------------------------------------------------
// Grafana

interface ProvisionedDataSource {
  name: string;
  type: string;
  uid: string;
  url?: string;
  isDefault?: boolean;
  jsonData?: Record<string, unknown>;
}
type DataSourceRef = { type?: string; uid?: string } | string | null | undefined;
interface Target {
  refId?: string;
  datasource?: DataSourceRef;
  expr?: unknown;
  query?: unknown;
  exemplar?: boolean;
  metrics?: unknown[];
}
interface Panel {
  id?: number;
  type: string;
  title?: string;
  datasource?: DataSourceRef;
  targets?: Target[];
  panels?: Panel[];
  gridPos?: { x: number; y: number; w: number; h: number };
  options?: Record<string, unknown>;
}
interface Variable {
  name: string;
  type: string;
  datasource?: DataSourceRef;
  query?: unknown;
  definition?: string;
  current?: { value?: unknown };
}
interface Annotation {
  name: string;
  builtIn?: number;
  datasource?: DataSourceRef;
  expr?: string;
}
interface Dashboard {
  uid: string;
  title: string;
  id?: number | null;
  tags?: string[];
  panels: Panel[];
  templating?: { list: Variable[] };
  annotations?: { list: Annotation[] };
}

const DATASOURCES_FILE = 'infra/grafana/provisioning/datasources/datasources.yml';
const DASHBOARD_PROVIDERS_FILE = 'infra/grafana/provisioning/dashboards/dashboards.yml';
const DASHBOARDS_DIR = 'infra/grafana/dashboards';

/** The dashboards of the lab and their uids: links (/d/<uid>), docs and bookmarks depend on them. */
const DASHBOARD_UIDS: Record<string, string> = {
  'services-overview.json': 'lab-services-overview',
  'service-detail.json': 'lab-service-detail',
  'business.json': 'lab-business',
  'auth.json': 'lab-auth',
  'resilience.json': 'lab-resilience',
  'runtime.json': 'lab-runtime',
  'host.json': 'lab-host',
  'containers.json': 'lab-containers',
  'alerts.json': 'lab-alerts',
  'events.json': 'lab-events',
};

/** Grafana's own pseudo data sources, valid in any dashboard. */
const BUILT_IN_DATASOURCES = new Set(['-- Grafana --', 'grafana', '-- Mixed --', '-- Dashboard --']);
/** Panels that show no query results. */
const QUERYLESS_PANELS = new Set(['row', 'text', 'alertlist', 'dashlist', 'news', 'annolist', 'welcome']);
/** Grafana's global variables, usable in any query. */
const GRAFANA_VARIABLES = new Set([
  '__rate_interval',
  '__interval',
  '__interval_ms',
  '__range',
  '__range_s',
  '__range_ms',
  '__from',
  '__to',
]);

/**
 * Metric names the lab's Prometheus has (or will have: circuit breaker, rate limiter and fault
 * injection come with a later issue): the services' own, prom-client's process_/nodejs_ defaults,
 * node-exporter, cAdvisor, blackbox, and Prometheus' synthetic series.
 */
const KNOWN_METRIC =
  /^(?:http_(?:server|client)_request_duration_seconds_(?:bucket|count|sum)|orders_total|stock_reservations_total|tokens_issued_total|auth_failures_total|log_records_dropped_total|rate_limited_requests_total|password_hash_shed_total|password_hash_queue_depth|circuit_breaker_state|fault_injection_active|events_published_total|events_consumed_total|outbox_pending_events|events_consume_lag_seconds_(?:bucket|count|sum)|(?:process|nodejs|node|container|probe|rabbitmq)_[a-zA-Z0-9_]+|up|ALERTS|ALERTS_FOR_STATE)$/;
/** Label names those series carry (a typo such as `status` for `status_code` matches nothing). */
const KNOWN_LABELS = new Set([
  // the services (prom-client default label and histogram/counter labels)
  'service',
  'method',
  'route',
  'status_code',
  'peer_service',
  'outcome',
  'result',
  'grant',
  'reason',
  'kind',
  'le',
  'upstream',
  'state',
  'fault',
  'type',
  // RabbitMQ (rabbitmq_prometheus)
  'queue',
  'vhost',
  // Prometheus
  'job',
  'instance',
  'alertname',
  'alertstate',
  'severity',
  // node-exporter and cAdvisor
  'mode',
  'device',
  'mountpoint',
  'fstype',
  'name',
  'container_label_com_docker_compose_service',
]);
const PROMQL_KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'inf',
  'nan',
]);

const datasources = (
  parse(read(DATASOURCES_FILE)) as { apiVersion: number; datasources: ProvisionedDataSource[] }
).datasources;
const datasourceByUid = new Map(datasources.map((ds) => [ds.uid, ds]));

const dashboardFiles = readdirSync(join(repoRoot, DASHBOARDS_DIR))
  .filter((file) => file.endsWith('.json'))
  .sort();
const dashboards = dashboardFiles.map((file) => ({
  file,
  text: read(join(DASHBOARDS_DIR, file)),
  dashboard: JSON.parse(read(join(DASHBOARDS_DIR, file))) as Dashboard,
}));

/** Every panel, those inside rows included. */
function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);
}

const uidOf = (ref: DataSourceRef) => (typeof ref === 'string' ? ref : ref?.uid);

/** A data source reference resolved to its provisioned uid (a `${var}` through a data source variable). */
function resolveDataSource(ref: DataSourceRef, dashboard: Dashboard): string | undefined {
  const uid = uidOf(ref);
  const variable = uid === undefined ? undefined : /^\$\{?(\w+)\}?$/.exec(uid)?.[1];
  if (variable === undefined) return uid;
  const definition = dashboard.templating?.list.find((v) => v.name === variable && v.type === 'datasource');
  const current = definition?.current?.value;
  return typeof current === 'string' ? current : `unresolved variable ${uid}`;
}

interface Query {
  where: string;
  expr: string;
  panelType?: string;
  exemplar?: boolean;
}

/** Every PromQL expression of a dashboard: its panels' Prometheus queries and its annotations. */
function prometheusQueries(dashboard: Dashboard): Query[] {
  const defaultUid = datasources.find((ds) => ds.isDefault)?.uid;
  const isPrometheus = (uid: string | undefined) =>
    datasourceByUid.get(uid ?? defaultUid ?? '')?.type === 'prometheus';
  const queries: Query[] = [];
  for (const panel of allPanels(dashboard.panels)) {
    for (const target of panel.targets ?? []) {
      const uid = resolveDataSource(target.datasource ?? panel.datasource, dashboard);
      if (isPrometheus(uid) && typeof target.expr === 'string') {
        const where = `${dashboard.uid} panel "${panel.title}" ${target.refId}`;
        queries.push({ where, expr: target.expr, panelType: panel.type, exemplar: target.exemplar });
      }
    }
  }
  for (const annotation of dashboard.annotations?.list ?? []) {
    if (annotation.expr)
      queries.push({ where: `${dashboard.uid} annotation "${annotation.name}"`, expr: annotation.expr });
  }
  return queries;
}

/** The query of a query variable (`label_values(metric, label)`…), whichever way it is stored. */
function variableQuery(variable: Variable): string {
  const query = variable.query;
  if (typeof query === 'string') return query;
  if (query && typeof query === 'object' && 'query' in query && typeof query.query === 'string')
    return query.query;
  return variable.definition ?? '';
}

const variableNames = (dashboard: Dashboard) =>
  new Set((dashboard.templating?.list ?? []).map((v) => v.name));

/** `$name`, `${name}`, `${name:format}` and `[[name]]` references in a query. */
function referencedVariables(expr: string): string[] {
  return [...expr.matchAll(/\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/** PromQL with Grafana's variables replaced by values Prometheus accepts. */
function substituteVariables(expr: string): string {
  return expr
    .replace(/\$\{?__(?:rate_interval|interval|range)\}?/g, '5m')
    .replace(/\$\{?__\w+\}?/g, '0')
    .replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g, 'x');
}

/** Metric names and label names of a PromQL expression (a loose reading: enough for names). */
function promqlNames(expr: string): { metrics: string[]; labels: string[] } {
  let rest = substituteVariables(expr).replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  const labels: string[] = [];
  for (const matchers of rest.matchAll(/\{([^}]*)\}/g)) {
    for (const m of matchers[1].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) labels.push(m[1]);
  }
  for (const grouping of rest.matchAll(
    /\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g,
  )) {
    labels.push(
      ...grouping[1]
        .split(',')
        .map((label) => label.trim())
        .filter(Boolean),
    );
  }
  rest = rest
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const metrics = [...rest.matchAll(/(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()/g)]
    .map((m) => m[1])
    .filter((name) => !PROMQL_KEYWORDS.has(name.toLowerCase()));
  return { metrics, labels };
}

describe('Grafana data sources (provisioning/datasources/datasources.yml)', () => {
  const raw = read(DATASOURCES_FILE);

  it('provisions Prometheus (default), Jaeger, Zipkin, Elasticsearch and Alertmanager with unique uids', () => {
    expect((parse(raw) as { apiVersion: number }).apiVersion).toBe(1);
    const uids = datasources.map((ds) => ds.uid);
    expect(new Set(uids).size).toBe(uids.length);
    expect(new Set(datasources.map((ds) => ds.name)).size).toBe(datasources.length);
    expect(Object.fromEntries(datasources.map((ds) => [ds.uid, ds.type]))).toEqual({
      prometheus: 'prometheus',
      jaeger: 'jaeger',
      zipkin: 'zipkin',
      elasticsearch: 'elasticsearch',
      alertmanager: 'alertmanager',
    });
    expect(datasources.filter((ds) => ds.isDefault).map((ds) => ds.uid)).toEqual(['prometheus']);
    for (const ds of datasources) expect(ds.url, ds.uid).toMatch(/^http:\/\/[a-z-]+:\d+$/);
  });

  it('points every link between data sources at a provisioned uid', () => {
    const links: string[] = [];
    const walk = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(walk);
      else if (value && typeof value === 'object') {
        for (const [key, child] of Object.entries(value)) {
          if (/^(datasourceUid|alertmanagerUid)$/.test(key) && typeof child === 'string') links.push(child);
          else walk(child);
        }
      }
    };
    datasources.forEach((ds) => walk(ds.jsonData));
    expect(links.length).toBeGreaterThanOrEqual(6);
    for (const uid of links) expect(datasourceByUid.has(uid), uid).toBe(true);
  });

  it('links Prometheus exemplars to Jaeger by the trace_id label the services put on them', () => {
    const destinations = datasourceByUid.get('prometheus')?.jsonData?.exemplarTraceIdDestinations;
    expect(destinations).toContainEqual(
      expect.objectContaining({ name: 'trace_id', datasourceUid: 'jaeger' }),
    );
    // The services' exemplars carry that label: shown on a real scrape by libs/telemetry's specs.
  });

  it('reads the daily log indices Fluentd writes, on @timestamp, with trace_id linked to Jaeger', () => {
    const es = datasourceByUid.get('elasticsearch')?.jsonData ?? {};
    expect(es).toMatchObject({
      interval: 'Daily',
      timeField: '@timestamp',
      logLevelField: 'level',
      logMessageField: 'message',
    });
    // Grafana's `[prefix]YYYY.MM.DD` is Fluentd's logstash_prefix, separator and dateformat.
    const { prefix, separator, dateformat } = fluentdIndex();
    const moment = dateformat.replace('%Y', 'YYYY').replace('%m', 'MM').replace('%d', 'DD');
    expect(es.index).toBe(`[${prefix}${separator}]${moment}`);
    expect(es.dataLinks).toContainEqual(
      expect.objectContaining({ field: 'trace_id', datasourceUid: 'jaeger' }),
    );
  });

  it('escapes the $ of Grafana macros, which provisioning would otherwise expand as environment variables', () => {
    expect(raw).toMatch(/\$\$\{__value\.raw\}/);
    expect(raw.match(/(?<!\$)\$\{__/g) ?? []).toEqual([]);
    expect(raw.match(/(?<!\$)\$__tags/g) ?? []).toEqual([]);
  });
});

describe('Grafana dashboard provider (provisioning/dashboards/dashboards.yml)', () => {
  const providers = (
    parse(read(DASHBOARD_PROVIDERS_FILE)) as {
      apiVersion: number;
      providers: { name: string; type: string; options: { path: string } }[];
    }
  ).providers;

  it('loads the JSON files from the directory Compose mounts them in', () => {
    expect(providers).toHaveLength(1);
    const [provider] = providers;
    expect(provider.type).toBe('file');
    const mount = /\.\/infra\/grafana\/dashboards:([^:\s"]+)/.exec(composeText)?.[1];
    if (mount) expect(provider.options.path).toBe(mount);
    // Grafana's home dashboard (set in Compose) is one of the files.
    const home = /GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH:\s*(\S+)/.exec(composeText)?.[1];
    if (home) {
      expect(home.startsWith(`${provider.options.path}/`), home).toBe(true);
      expect(dashboardFiles).toContain(home.slice(provider.options.path.length + 1));
    }
  });
});

describe('Grafana dashboards (infra/grafana/dashboards)', () => {
  it('has every lab dashboard, each with its stable uid, and no two dashboards with one uid or title', () => {
    for (const [file, uid] of Object.entries(DASHBOARD_UIDS)) {
      expect(dashboardFiles, file).toContain(file);
      expect(dashboards.find((d) => d.file === file)?.dashboard.uid, file).toBe(uid);
    }
    const uids = dashboards.map((d) => d.dashboard.uid);
    expect(new Set(uids).size).toBe(uids.length);
    const titles = dashboards.map((d) => d.dashboard.title);
    expect(new Set(titles).size).toBe(titles.length);
    for (const { file, dashboard } of dashboards) {
      expect(dashboard.uid, file).toMatch(/^[a-z0-9-]{1,40}$/);
      expect(dashboard.title, file).toBeTruthy();
      expect(dashboard.id ?? null, `${file}: provisioned dashboards carry no database id`).toBeNull();
      expect(dashboard.tags, file).toContain('observability-lab');
    }
  });

  it.each(dashboards.map((d) => [d.file, d.dashboard] as const))(
    '%s: panels are laid out, and query only provisioned data sources',
    (_file, dashboard) => {
      const panels = allPanels(dashboard.panels);
      expect(panels.length).toBeGreaterThan(3);
      const ids = panels.map((panel) => panel.id);
      expect(ids.every((id) => typeof id === 'number')).toBe(true);
      expect(new Set(ids).size).toBe(ids.length);
      for (const panel of panels) {
        const where = `${dashboard.uid} panel ${panel.id} "${panel.title}"`;
        expect(panel.title, where).toBeTruthy();
        const { x, w, h } = panel.gridPos ?? { x: -1, w: 0, h: 0 };
        expect(x >= 0 && w > 0 && h > 0 && x + w <= 24, `${where} gridPos`).toBe(true);
        if (panel.datasource !== undefined) {
          const uid = resolveDataSource(panel.datasource, dashboard);
          expect(
            datasourceByUid.has(uid ?? '') || BUILT_IN_DATASOURCES.has(uid ?? ''),
            `${where}: data source ${uid}`,
          ).toBe(true);
        }
        if (QUERYLESS_PANELS.has(panel.type)) continue;
        expect(panel.targets?.length ?? 0, `${where} has no query`).toBeGreaterThan(0);
        for (const target of panel.targets ?? []) {
          const uid = resolveDataSource(target.datasource ?? panel.datasource, dashboard);
          const ds = datasourceByUid.get(uid ?? '');
          expect(ds, `${where} ${target.refId}: data source ${uid} is not provisioned`).toBeDefined();
          if (ds?.type === 'prometheus') {
            expect(
              typeof target.expr === 'string' && target.expr.trim() !== '',
              `${where} ${target.refId}: expr`,
            ).toBe(true);
          }
          if (ds?.type === 'elasticsearch') {
            expect(typeof target.query, `${where} ${target.refId}: query`).toBe('string');
            expect(target.metrics?.length, `${where} ${target.refId}: metrics`).toBeGreaterThan(0);
          }
        }
      }
      for (const variable of dashboard.templating?.list ?? []) {
        if (variable.type !== 'query') continue;
        const uid = resolveDataSource(variable.datasource, dashboard);
        expect(
          datasourceByUid.has(uid ?? ''),
          `${dashboard.uid} variable ${variable.name}: data source ${uid}`,
        ).toBe(true);
        expect(variableQuery(variable), `${dashboard.uid} variable ${variable.name}`).not.toBe('');
      }
      for (const annotation of dashboard.annotations?.list ?? []) {
        const uid = resolveDataSource(annotation.datasource, dashboard);
        expect(
          datasourceByUid.has(uid ?? '') || BUILT_IN_DATASOURCES.has(uid ?? ''),
          `annotation ${annotation.name}: ${uid}`,
        ).toBe(true);
      }
    },
  );

  it.each(dashboards.map((d) => [d.file, d.dashboard] as const))(
    '%s: PromQL names only known metrics, labels and dashboard variables',
    (_file, dashboard) => {
      const defined = variableNames(dashboard);
      const queries = prometheusQueries(dashboard);
      expect(queries.length).toBeGreaterThan(0);
      for (const variable of dashboard.templating?.list ?? []) {
        if (variable.type === 'query')
          queries.push({ where: `variable ${variable.name}`, expr: variableQuery(variable) });
      }
      for (const { where, expr } of queries) {
        for (const name of referencedVariables(expr)) {
          expect(
            defined.has(name) || GRAFANA_VARIABLES.has(name),
            `${where}: undefined variable $${name}`,
          ).toBe(true);
        }
        const forNames = expr.replace(
          /label_values\(\s*([a-zA-Z_:][\w:]*)?\s*(?:\{[^}]*\})?\s*,\s*(\w+)\s*\)/g,
          '$1 by ($2)',
        );
        const { metrics, labels } = promqlNames(forNames);
        for (const metric of metrics) expect(metric, `${where}: ${expr}`).toMatch(KNOWN_METRIC);
        for (const label of labels)
          expect(KNOWN_LABELS.has(label), `${where}: label ${label} in ${expr}`).toBe(true);
      }
    },
  );

  it('shows exemplars (links to traces) on every duration graph', () => {
    const durations = dashboards
      .flatMap(({ dashboard }) => prometheusQueries(dashboard))
      .filter((query) => query.panelType === 'timeseries' && /_duration_seconds_bucket\b/.test(query.expr));
    expect(durations.length).toBeGreaterThan(10);
    for (const { where, exemplar } of durations) expect(exemplar, where).toBe(true);
  });

  it('has PromQL that Prometheus parses (promtool check rules)', () => {
    const queries = dashboards.flatMap(({ dashboard }) => prometheusQueries(dashboard));
    const which = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
    if (which.status !== 0) {
      throw new Error(
        'promtool is not installed: run `node scripts/infra-tools.mjs` (Debian package prometheus)',
      );
    }
    const dir = mkdtempSync(join(tmpdir(), 'lab-dashboards-'));
    try {
      const rules = {
        groups: [
          {
            name: 'dashboard-queries',
            rules: queries.map((query, i) => ({
              record: `dashboard:query_${i}`,
              expr: substituteVariables(query.expr),
            })),
          },
        ],
      };
      writeFileSync(join(dir, 'queries.yml'), JSON.stringify(rules));
      const result = spawnSync('promtool', ['check', 'rules', join(dir, 'queries.yml')], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(`${result.stdout}${result.stderr}`).toContain(`SUCCESS: ${queries.length} rules found`);
      expect(result.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('links only to saved searches that Kibana is given', () => {
    const ids = new Set(savedObjects.map((object) => object.id));
    const linked = dashboards.flatMap(({ text }) =>
      [...text.matchAll(/discover#\/view\/([\w-]+)/g)].map((m) => m[1]),
    );
    for (const id of linked) expect(ids.has(id), id).toBe(true);
  });
});

// ------------------------------------------------------------------------------------------------
// Kibana

interface SavedObject {
  type: string;
  id: string;
  attributes: Record<string, unknown>;
  references: { type: string; id: string; name: string }[];
  coreMigrationVersion?: string;
}

const SAVED_OBJECTS_FILE = 'infra/kibana/saved-objects.ndjson';
const savedObjectLines = read(SAVED_OBJECTS_FILE)
  .split('\n')
  .filter((line) => line.trim() !== '');
const savedObjects = savedObjectLines.map((line) => JSON.parse(line) as SavedObject);
const dataView = savedObjects.find((object) => object.type === 'index-pattern');
const searches = savedObjects.filter((object) => object.type === 'search');

/** A saved search's KQL query and data view reference name. */
function searchSource(search: SavedObject): {
  query: { query: string; language: string };
  indexRefName: string;
} {
  const meta = search.attributes.kibanaSavedObjectMeta as { searchSourceJSON: string };
  return JSON.parse(meta.searchSourceJSON) as {
    query: { query: string; language: string };
    indexRefName: string;
  };
}

const globToRegExp = (glob: string) =>
  new RegExp(
    `^${glob
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );

const versionNumber = (version: string) =>
  version.split('.').reduce((total, part) => total * 1000 + Number.parseInt(part, 10), 0);

describe('Kibana saved objects (infra/kibana/saved-objects.ndjson)', () => {
  it('has one JSON object per line, with a unique id each, all references resolved', () => {
    expect(savedObjectLines.length).toBeGreaterThanOrEqual(4);
    const keys = savedObjects.map((object) => `${object.type}:${object.id}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(new Set(savedObjects.map((object) => object.id)).size).toBe(savedObjects.length);
    for (const object of savedObjects) {
      expect(object.type && object.id && object.attributes, JSON.stringify(object).slice(0, 80)).toBeTruthy();
      for (const reference of object.references) {
        expect(keys, `${object.id} → ${reference.type}:${reference.id}`).toContain(
          `${reference.type}:${reference.id}`,
        );
      }
    }
  });

  it('targets a Kibana no newer than the one Compose runs', () => {
    const elastic = dotEnv.ELASTIC_VERSION;
    for (const object of savedObjects) {
      expect(object.coreMigrationVersion, object.id).toMatch(/^8\.\d+\.\d+$/);
      if (elastic)
        expect(versionNumber(object.coreMigrationVersion ?? ''), object.id).toBeLessThanOrEqual(
          versionNumber(elastic),
        );
    }
  });

  it('has a data view over the daily indices Fluentd writes, on @timestamp', () => {
    expect(dataView).toBeDefined();
    expect(dataView?.attributes).toMatchObject({ title: 'logs-*', timeFieldName: '@timestamp' });
    const { prefix, separator, dateformat } = fluentdIndex();
    const today = new Date();
    const index = `${prefix}${separator}${dateformat
      .replace('%Y', String(today.getUTCFullYear()))
      .replace('%m', String(today.getUTCMonth() + 1).padStart(2, '0'))
      .replace('%d', String(today.getUTCDate()).padStart(2, '0'))}`;
    expect(index).toMatch(globToRegExp(String(dataView?.attributes.title)));
  });

  it('renders trace_id as a link to the trace in the Jaeger UI', () => {
    const formats = JSON.parse(String(dataView?.attributes.fieldFormatMap)) as Record<
      string,
      { id: string; params: { urlTemplate: string; labelTemplate?: string; type?: string } }
    >;
    expect(formats.trace_id.id).toBe('url');
    expect(formats.trace_id.params.urlTemplate).toBe(
      `http://localhost:${dotEnv.JAEGER_HOST_PORT ?? '16686'}/trace/{{value}}`,
    );
    expect(formats.trace_id.params.type ?? 'a').toBe('a');
  });

  it('has the saved searches: errors by service, one trace, access log and alerts', () => {
    const byTitle = new Map(searches.map((search) => [search.attributes.title, search]));
    const query = (title: string) => {
      const search = byTitle.get(title);
      expect(search, title).toBeDefined();
      return search ? searchSource(search).query : { query: '', language: '' };
    };
    expect(query('Errors by service').query).toMatch(/level\s*:\s*"?error"?/);
    expect(byTitle.get('Errors by service')?.attributes.breakdownField).toBe('service');
    expect(query('One trace').query).toMatch(/^trace_id\s*:/);
    expect(byTitle.get('One trace')?.attributes.sort).toEqual([['@timestamp', 'asc']]);
    expect(query('Access log').query).toContain('AccessLog');
    expect(query('Alerts').query).toContain('"alert-webhook"');
    for (const search of searches) {
      const source = searchSource(search);
      expect(source.query.language, search.id).toBe('kuery');
      expect(
        search.references.map((reference) => reference.name),
        search.id,
      ).toContain(source.indexRefName);
      expect(search.references.find((reference) => reference.name === source.indexRefName)?.id).toBe(
        dataView?.id,
      );
      expect(search.attributes.columns, search.id).toEqual(expect.arrayContaining([expect.any(String)]));
    }
  });
});

// ------------------------------------------------------------------------------------------------
// Kibana setup script, against a stand-in for the two Kibana APIs it calls

const SETUP_SCRIPT = join(repoRoot, 'infra/kibana/setup.sh');
const hasCurl = spawnSync('sh', ['-c', 'command -v curl'], { stdio: 'ignore' }).status === 0;

interface FakeKibana {
  url: string;
  requests: { method: string; path: string; headers: IncomingMessage['headers']; body: string }[];
  close(): Promise<void>;
}

/** Answers /api/status, /api/saved_objects/_import and /api/data_views/default as `answer` says. */
async function fakeKibana(
  answer: (request: { method: string; path: string; body: string; count: number }) => {
    status: number;
    body: unknown;
  },
): Promise<FakeKibana> {
  const requests: FakeKibana['requests'] = [];
  const counts = new Map<string, number>();
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '';
      const body = Buffer.concat(chunks).toString('utf8');
      const route = path.split('?')[0];
      const count = (counts.get(route) ?? 0) + 1;
      counts.set(route, count);
      requests.push({ method: request.method ?? '', path, headers: request.headers, body });
      const reply = answer({ method: request.method ?? '', path, body, count });
      response.writeHead(reply.status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const status = (level: string) => ({
  status: level === 'available' ? 200 : 503,
  body: { status: { overall: { level, summary: level } } },
});

function runSetup(
  kibanaUrl: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'sh',
      [SETUP_SCRIPT],
      {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          KIBANA_URL: kibanaUrl,
          KIBANA_POLL_SECONDS: '0',
          KIBANA_RETRY_SECONDS: '0',
          KIBANA_WAIT_SECONDS: '20',
          ...env,
        },
        timeout: 30_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('Kibana setup (infra/kibana/setup.sh)', () => {
  const servers: FakeKibana[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close()));
  });

  it('is a POSIX sh script (the one-shot container has sh and curl only)', () => {
    const script = readFileSync(SETUP_SCRIPT, 'utf8');
    expect(script.startsWith('#!/bin/sh\n')).toBe(true);
    expect(spawnSync('sh', ['-n', SETUP_SCRIPT]).status).toBe(0);
    const code = script.replace(/^\s*#.*$/gm, '');
    expect(code).not.toMatch(/\bjq\b|\[\[|\bfunction\b|\blocal\b|\bpipefail\b/);
    // Compose runs it as `sh /setup/setup.sh` with this folder mounted at /setup.
    if (composeText.includes('kibana-setup')) expect(composeText).toMatch(/\.\/infra\/kibana:\/setup/);
  });

  it.skipIf(!hasCurl)(
    'waits for Kibana to be available, retries the import, then sets the default data view',
    async () => {
      const kibana = await fakeKibana(({ method, path, count }) => {
        if (path === '/api/status') return status(count < 3 ? 'unavailable' : 'available');
        if (method === 'POST' && path === '/api/saved_objects/_import?overwrite=true') {
          return count === 1
            ? { status: 503, body: { statusCode: 503, error: 'Service Unavailable', message: 'not ready' } }
            : { status: 200, body: { success: true, successCount: savedObjects.length, successResults: [] } };
        }
        if (method === 'POST' && path === '/api/data_views/default')
          return { status: 200, body: { acknowledged: true } };
        return { status: 404, body: { message: `unexpected ${method} ${path}` } };
      });
      servers.push(kibana);
      const { code, stdout, stderr } = await runSetup(kibana.url);
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(stdout).toContain(`imported ${savedObjects.length} saved objects`);
      const paths = kibana.requests.map((request) => request.path.split('?')[0]);
      expect(paths.filter((path) => path === '/api/status')).toHaveLength(3);
      expect(paths.filter((path) => path === '/api/saved_objects/_import')).toHaveLength(2);
      const imported = kibana.requests.find((request) =>
        request.path.startsWith('/api/saved_objects/_import'),
      );
      expect(imported?.headers['kbn-xsrf']).toBeTruthy();
      expect(imported?.headers['content-type']).toMatch(/^multipart\/form-data/);
      expect(imported?.body).toContain('filename="saved-objects.ndjson"');
      for (const line of savedObjectLines) expect(imported?.body).toContain(line);
      const setDefault = kibana.requests.find((request) => request.path === '/api/data_views/default');
      expect(JSON.parse(setDefault?.body ?? '{}')).toEqual({ data_view_id: dataView?.id, force: true });
    },
  );

  it.skipIf(!hasCurl)('exits non-zero, saying why, when Kibana refuses the import every time', async () => {
    const kibana = await fakeKibana(({ path }) =>
      path === '/api/status'
        ? status('available')
        : {
            status: 200,
            body: { success: false, successCount: 0, errors: [{ id: 'x', error: { type: 'conflict' } }] },
          },
    );
    servers.push(kibana);
    const { code, stdout, stderr } = await runSetup(kibana.url, { KIBANA_IMPORT_ATTEMPTS: '2' });
    expect(code).not.toBe(0);
    expect(
      kibana.requests.filter((request) => request.path.startsWith('/api/saved_objects/_import')),
    ).toHaveLength(2);
    expect(stdout).toContain('"type":"conflict"');
    expect(stderr).toMatch(/ERROR: could not import .*saved-objects\.ndjson.* after 2 attempts/);
  });

  it.skipIf(!hasCurl)('exits non-zero, saying why, when Kibana never becomes available', async () => {
    const kibana = await fakeKibana(() => status('degraded'));
    servers.push(kibana);
    const { code, stderr } = await runSetup(kibana.url, {
      KIBANA_WAIT_SECONDS: '1',
      KIBANA_POLL_SECONDS: '0.2',
    });
    expect(code).not.toBe(0);
    expect(stderr).toMatch(
      /ERROR: Kibana at http:\/\/127\.0\.0\.1:\d+ is still not available after 1s \(status: degraded\)/,
    );
    expect(kibana.requests.some((request) => request.path.startsWith('/api/saved_objects'))).toBe(false);
  });

  it.skipIf(!hasCurl)('exits non-zero when nothing answers at KIBANA_URL', async () => {
    const closed = await fakeKibana(() => status('available'));
    await closed.close();
    const { code, stderr } = await runSetup(closed.url, { KIBANA_WAIT_SECONDS: '0' });
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/still not available after 0s \(status: unreachable \(HTTP 000\)\)/);
  });
});

// ------------------------------------------------------------------------------------------------
// Fluentd

interface Directive {
  name: string;
  arg: string;
  params: Record<string, string>;
  children: Directive[];
}

/** A loose reading of Fluentd's configuration syntax: `<name arg>` sections and `key value` lines. */
function parseFluentConf(text: string): Directive {
  const root: Directive = { name: 'ROOT', arg: '', params: {}, children: [] };
  const stack = [root];
  text.split('\n').forEach((line, index) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const open = /^<([a-zA-Z_@][\w@.-]*)(?:\s+(.*))?>$/.exec(trimmed);
    const close = /^<\/([a-zA-Z_@][\w@.-]*)>$/.exec(trimmed);
    const current = stack[stack.length - 1];
    if (close) {
      if (close[1] !== current.name)
        throw new Error(`line ${index + 1}: </${close[1]}> closes <${current.name}>`);
      stack.pop();
    } else if (open) {
      const directive: Directive = { name: open[1], arg: (open[2] ?? '').trim(), params: {}, children: [] };
      current.children.push(directive);
      stack.push(directive);
    } else {
      const param = /^(@?[\w.]+)(?:\s+(.*))?$/.exec(trimmed);
      if (!param) throw new Error(`line ${index + 1}: cannot read "${trimmed}"`);
      current.params[param[1]] = (param[2] ?? '').trim();
    }
  });
  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1].name}> is never closed`);
  return root;
}

/** Fluentd's tag patterns: `*` one part, `**` any number of parts, `{a,b}` alternatives, space-separated. */
function tagMatches(pattern: string, tag: string): boolean {
  return pattern.split(/\s+/).some((one) => {
    const source = one
      .split(/(\*\*|\*|\{[^}]*\}|\.)/)
      .filter((part) => part !== '')
      .map((part) => {
        if (part === '**') return '.*';
        if (part === '*') return '[^.]+';
        if (part === '.') return '\\.';
        if (part.startsWith('{'))
          return `(?:${part
            .slice(1, -1)
            .split(',')
            .map((alt) => alt.replace(/\./g, '\\.'))
            .join('|')})`;
        return part.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      })
      .join('')
      .replace(/\\\.\.\*$/, '(?:\\..*)?');
    return new RegExp(`^${source}$`).test(tag);
  });
}

const fluentConf = parseFluentConf(read('infra/fluentd/fluent.conf'));
const fluentdDockerfile = read('infra/fluentd/Dockerfile');

/** The <match> that takes the services' records (tag app.<service>). */
function serviceLogsMatch(): Directive | undefined {
  return fluentConf.children.find((d) => d.name === 'match' && tagMatches(d.arg, 'app.order'));
}

/** Index naming of the Elasticsearch output (logstash_format). */
function fluentdIndex(): { prefix: string; separator: string; dateformat: string } {
  const params = serviceLogsMatch()?.params ?? {};
  return {
    prefix: params.logstash_prefix ?? 'logstash',
    separator: params.logstash_prefix_separator ?? '-',
    dateformat: params.logstash_dateformat ?? '%Y.%m.%d',
  };
}

describe('Fluentd (infra/fluentd)', () => {
  it('takes the forward protocol on 24224 (acks need no setting) and serves monitor_agent on 24220', () => {
    const sources = fluentConf.children.filter((d) => d.name === 'source');
    expect(sources.find((d) => d.params['@type'] === 'forward')?.params).toMatchObject({
      port: '24224',
      bind: '0.0.0.0',
    });
    expect(sources.find((d) => d.params['@type'] === 'monitor_agent')?.params).toMatchObject({
      port: '24220',
      bind: '0.0.0.0',
    });
    // No parser anywhere: the records arrive as maps.
    expect(JSON.stringify(fluentConf)).not.toMatch(/"parse"|"@type":"parser"/);
    if (composeText.includes('fluentd:')) expect(composeText).toContain('127.0.0.1:24220/api/plugins.json');
  });

  it("indexes every service's records (tag app.<service>) into daily logs-YYYY.MM.DD indices, @timestamp kept", () => {
    for (const service of ['gateway', 'oauth', 'customer', 'product', 'order', 'alert-webhook']) {
      expect(
        serviceLogsMatch()?.arg && tagMatches(serviceLogsMatch()?.arg ?? '', `app.${service}`),
        service,
      ).toBe(true);
    }
    expect(tagMatches(serviceLogsMatch()?.arg ?? '', 'fluent.info')).toBe(false);
    expect(serviceLogsMatch()?.params).toMatchObject({
      '@type': 'elasticsearch',
      host: 'elasticsearch',
      port: '9200',
      logstash_format: 'true',
      logstash_prefix: 'logs',
      logstash_dateformat: '%Y.%m.%d',
      time_key: '@timestamp',
    });
    expect(fluentdIndex()).toEqual({ prefix: 'logs', separator: '-', dateformat: '%Y.%m.%d' });
    // The services tag their records app.<service>: shown against a Fluentd receiver by libs/logging's specs.
  });

  it('buffers on the mounted volume and retries until Elasticsearch takes the records', () => {
    const buffer = serviceLogsMatch()?.children.find((d) => d.name === 'buffer');
    expect(buffer?.params).toMatchObject({
      '@type': 'file',
      retry_forever: 'true',
      flush_at_shutdown: 'true',
    });
    expect(buffer?.params.path).toMatch(/^\/fluentd\/buffer\//);
    if (composeText.includes('fluentd-buffer'))
      expect(composeText).toContain('fluentd-buffer:/fluentd/buffer');
    expect(fluentdDockerfile).toMatch(
      /mkdir -p \/fluentd\/buffer[\s\S]*chown -R fluent:fluent \/fluentd\/buffer/,
    );
  });

  it('prints the records Elasticsearch refuses on stdout', () => {
    const errors = fluentConf.children.find((d) => d.name === 'label' && d.arg === '@ERROR');
    expect(errors?.children.find((d) => d.name === 'match')?.params['@type']).toBe('stdout');
  });

  it('installs an index template for those indices, with trace_id and friends as keywords', () => {
    const params = serviceLogsMatch()?.params ?? {};
    expect(params).toMatchObject({
      template_name: 'logs',
      use_legacy_template: 'false',
      template_overwrite: 'true',
    });
    const file = params.template_file.replace('/fluentd/etc/', '');
    expect(fluentdDockerfile).toMatch(
      new RegExp(`^COPY .*\\b${file.replace(/\./g, '\\.')}\\b.* /fluentd/etc/$`, 'm'),
    );
    const template = JSON.parse(read(`infra/fluentd/${file}`)) as {
      index_patterns: string[];
      priority: number;
      template: { mappings: { properties: Record<string, { type?: string }> } };
    };
    expect(template.index_patterns.some((glob) => globToRegExp(glob).test('logs-2024.01.31'))).toBe(true);
    // Elasticsearch refuses two overlapping templates of one priority: its built-in logs-*-* has 100.
    expect(template.priority).toBeLessThan(100);
    const properties = template.template.mappings.properties;
    for (const field of ['trace_id', 'span_id', 'request_id', 'service', 'level'])
      expect(properties[field]?.type, field).toBe('keyword');
    expect(properties['@timestamp']?.type).toBe('date');
  });

  it('builds on a pinned Fluentd v1 Debian image with pinned plugin and Elasticsearch client', () => {
    const arg = (name: string) => new RegExp(`^ARG ${name}=(\\S+)$`, 'm').exec(fluentdDockerfile)?.[1];
    expect(arg('FLUENTD_VERSION')).toMatch(/^v1\.\d+\.\d+-debian-\d+\.\d+$/);
    expect(fluentdDockerfile).toMatch(/^FROM fluent\/fluentd:\$\{FLUENTD_VERSION\}$/m);
    expect(arg('FLUENT_PLUGIN_ELASTICSEARCH_VERSION')).toMatch(/^\d+\.\d+\.\d+$/);
    expect(fluentdDockerfile).toMatch(
      /gem install .*fluent-plugin-elasticsearch -v "\$\{FLUENT_PLUGIN_ELASTICSEARCH_VERSION\}"/,
    );
    expect(fluentdDockerfile).toMatch(/gem install .*elasticsearch -v "\$\{ELASTICSEARCH_GEM_VERSION\}"/);
    // The defaults are the versions of .env; the Ruby client speaks the server's major version.
    if (dotEnv.FLUENTD_VERSION) expect(arg('FLUENTD_VERSION')).toBe(dotEnv.FLUENTD_VERSION);
    if (dotEnv.FLUENT_PLUGIN_ELASTICSEARCH_VERSION) {
      expect(arg('FLUENT_PLUGIN_ELASTICSEARCH_VERSION')).toBe(dotEnv.FLUENT_PLUGIN_ELASTICSEARCH_VERSION);
    }
    const serverMajor = (dotEnv.ELASTIC_VERSION ?? '8').split('.')[0];
    expect(arg('ELASTICSEARCH_GEM_VERSION')?.split('.')[0]).toBe(serverMajor);
    expect(
      fluentdDockerfile
        .trim()
        .split('\n')
        .filter((line) => line.startsWith('USER '))
        .pop(),
    ).toBe('USER fluent');
  });
});
