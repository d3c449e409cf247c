// Types of scripts/monitoring.mjs for the TypeScript specs that import it.

export const PROMETHEUS_DIR: string;
export const PROMETHEUS_FILE: string;
export const ALERTMANAGER_FILE: string;
export const COMPOSE_INTERVAL_MS: number;
export const PROMETHEUS_COMMANDS: readonly string[];
export const ALERTMANAGER_COMMANDS: readonly string[];
export const INSTALL_HINT: string;

export interface PrometheusRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  keep_firing_for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
export interface PrometheusRuleFile {
  groups: { name: string; interval?: string; rules: PrometheusRule[] }[];
}
export interface ScrapeConfig {
  job_name: string;
  static_configs?: { targets: string[]; labels?: Record<string, string> }[];
  relabel_configs?: { target_label?: string; replacement?: string; source_labels?: string[] }[];
  scrape_interval?: string;
  scrape_timeout?: string;
  metrics_path?: string;
  params?: Record<string, string[]>;
  [key: string]: unknown;
}
export interface PrometheusConfig {
  global?: Record<string, unknown>;
  rule_files?: string[];
  alerting?: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
  scrape_configs: ScrapeConfig[];
}
export interface AlertmanagerRoute {
  receiver?: string;
  group_by?: string[];
  group_wait?: string;
  group_interval?: string;
  repeat_interval?: string;
  matchers?: string[];
  routes?: AlertmanagerRoute[];
  [key: string]: unknown;
}
export interface AlertmanagerConfig {
  global?: Record<string, unknown>;
  route: AlertmanagerRoute;
  inhibit_rules?: { source_matchers?: string[]; target_matchers?: string[]; equal?: string[] }[];
  receivers: {
    name: string;
    webhook_configs?: {
      url: string;
      send_resolved?: boolean;
      http_config?: { authorization?: { type?: string; credentials_file?: string } };
    }[];
  }[];
}

export function parseDuration(text: string): number;
export function formatDuration(ms: number): string;
export function scaleRatio(intervalMs: number): number;
export function scaleDuration(text: string, r: number, floorMs?: number): string;
export function scaleExpression(expr: string, r: number, options?: { minRangeMs?: number }): string;
export function scaleRuleFile(ruleFile: PrometheusRuleFile, intervalMs: number): PrometheusRuleFile;
export function composeRuleFiles(composeConfig?: PrometheusConfig): string[];
export function localPrometheusConfig(
  composeConfig: PrometheusConfig,
  options: { intervalMs: number; targets: Readonly<Record<string, string>>; rules: string[] },
): { config: PrometheusConfig; kept: string[]; left: string[] };
export function localAlertmanagerConfig(
  composeConfig: AlertmanagerConfig,
  options: { intervalMs: number; webhookUrl: string; tokenFile: string },
): AlertmanagerConfig;
export function writeMonitoringConfig(options: {
  dir: string;
  intervalMs: number;
  targets: Readonly<Record<string, string>>;
  webhookUrl: string;
  token: string;
}): {
  prometheusFile: string;
  alertmanagerFile: string;
  rulesDir: string;
  tokenFile: string;
  kept: string[];
  left: string[];
};
export function monitoringTargets(addresses: {
  services: Readonly<Record<string, string>>;
  prometheus: string;
  alertmanager: string;
  alertWebhook: string;
  rabbitmq?: string;
}): Record<string, string>;
export function prometheusArgs(options: {
  configFile: string;
  dataDir: string;
  port: number;
  intervalMs: number;
}): string[];
export function alertmanagerArgs(options: { configFile: string; dataDir: string; port: number }): string[];
export function findCommand(names: readonly string[], path?: string): string | undefined;
