// Types of scenario-lib.mjs for the TypeScript specs (the scripts themselves are plain Node).

export type Labels = Record<string, string>;
export interface AlertRef {
  name: string;
  labels?: Labels;
  within?: string;
}
export interface TrafficEntry {
  name: string;
  method: string;
  path: string;
  perSecond: number;
  auth?: 'none' | 'user' | 'admin';
  body?: unknown;
  headers?: unknown;
}
export interface RunbookStep {
  expr: string;
  vars?: Labels;
  culprit: Labels;
  match?: 'top' | 'every' | 'any';
}
export interface Scenario {
  name: string;
  title: string;
  summary: string;
  touches: string[];
  requires?: string[];
  traffic: TrafficEntry[];
  steadyState?: {
    quiet?: (string | AlertRef)[];
    queries?: { expr: string; below?: number; above?: number }[];
  };
  inject: {
    fault?: { service: string; body: Record<string, unknown> };
    pause?: string;
    run?: unknown;
    undo?: unknown;
  };
  alert: (AlertRef & { within: string }) | null;
  hold?: string;
  alsoFires?: AlertRef[];
  runbook: RunbookStep[];
  symptom?: { status?: '5xx' | number; slowerThanMs?: number } | false;
  recovery?: { within: string };
  notify?: 'webhook' | 'alertmanager';
  alone?: boolean;
  docs: { inject?: string; sees: string; alerts?: string; find: string; undo?: string };
}
export interface AlertRule {
  name: string;
  severity: string;
  file: string;
}
export interface Series {
  metric: Labels;
  value: [number, string] | (number | string)[];
}

export const TOUCHABLE: string[];
export const COMPOSE_INTERVAL_S: number;
export const DEFAULT_SYMPTOM: { status: '5xx'; slowerThanMs: number };
export class ScenarioError extends Error {}
export function parseDuration(text: unknown): number | undefined;
export function formatDuration(seconds: number): string;
export function timeScale(evaluationInterval: string): number;
export function evaluationIntervalOf(configYaml: string): string;
export function scaleRanges(expr: string, r: number): string;
export function longestRange(expr: string): number;
export function fillPlaceholders(expr: string, vars: Labels): string;
export function hasLabels(labels: Labels | undefined, wanted: Labels): boolean;
export function formatLabels(labels: Labels | undefined): string;
export function culpritCheck(
  results: Series[],
  culprit: Labels,
  match?: 'top' | 'every' | 'any',
): { ok: boolean; reason: string };
export function scheduleOrder<T extends { name: string; touches: string[]; alone?: boolean }>(
  scenarios: T[],
): T[];
export function startable<T extends { touches: string[] }>(pending: T[], running: T[]): T[];
export function concurrentGroups<T extends { touches: string[] }>(scenarios: T[]): T[][];
export function problemsOf(definition: unknown, fileName?: string): string[];
export function validateScenario(definition: unknown, file: string): Scenario;
export function loadScenarios(dir: string): Promise<Scenario[]>;
export function chaosCommands(service: string, body: Record<string, unknown>): string[];
export function scenarioMarkdown(scenario: Scenario): string;
export function headingAnchor(heading: string): string;
export function alertRules(rulesDir: string): AlertRule[];
export function alertsTable(alerts: AlertRule[], scenarios: Scenario[]): string;
export function renderScenarioDocs(markdown: string, scenarios: Scenario[], alerts: AlertRule[]): string;
