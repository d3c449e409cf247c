import { ConfigError, type ConfigVariable, type Env, type LogLevel, processEnvironment } from '#lab/config';

/** Configuration of the alert-webhook app: Alertmanager's receiver, which logs every alert. */
export interface AlertWebhookConfig {
  readonly host: string;
  readonly port: number;
  readonly logLevel: LogLevel;
  /** Fluentd forward target for the alert records (stdout always); undefined: stdout only. */
  readonly fluentd: { readonly host: string; readonly port: number } | undefined;
  readonly logBufferMaxRecords: number;
  /** Bearer token every notification must carry (401 otherwise); undefined: notifications are taken from anyone. */
  readonly token: string | undefined;
}

export const ALERT_WEBHOOK_DEFAULT_PORT = 9095;
/** The token `.env` gives the Compose stack: fine on a laptop, known to everyone who read the lab's sources. */
export const ALERT_WEBHOOK_DEVELOPMENT_TOKEN = 'lab-alert-webhook-development-token';

const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug', 'verbose'];
const HOST = /^[\w.:-]+$/;

/**
 * Validates the alert-webhook's variables (ALERT_WEBHOOK_PORT, ALERT_WEBHOOK_TOKEN, and HOST, LOG_LEVEL, FLUENTD_HOST,
 * FLUENTD_PORT, LOG_BUFFER_MAX_RECORDS with the same rules as the services); throws {@link ConfigError}
 * naming every bad one.
 */
export function loadAlertWebhookConfig(env: Env): AlertWebhookConfig {
  const problems: string[] = [];
  const raw = (name: ConfigVariable) => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };
  const integer = (name: ConfigVariable, fallback: number, min: number, max: number) => {
    const value = raw(name);
    if (value === undefined) return fallback;
    if (/^\d+$/.test(value) && Number(value) >= min && Number(value) <= max) return Number(value);
    problems.push(`${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`);
    return fallback;
  };
  const host = (name: ConfigVariable) => {
    const value = raw(name);
    if (value === undefined || HOST.test(value)) return value;
    problems.push(`${name} must be a host name or IP address (got ${JSON.stringify(value)})`);
    return undefined;
  };

  const level = raw('LOG_LEVEL') ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(level)})`);
  }
  const fluentdHost = host('FLUENTD_HOST');
  const config: AlertWebhookConfig = {
    host: host('HOST') ?? '127.0.0.1',
    port: integer('ALERT_WEBHOOK_PORT', ALERT_WEBHOOK_DEFAULT_PORT, 1, 65535),
    logLevel: LOG_LEVELS.find((known) => known === level) ?? 'info',
    fluentd: fluentdHost ? { host: fluentdHost, port: integer('FLUENTD_PORT', 24224, 1, 65535) } : undefined,
    logBufferMaxRecords: integer('LOG_BUFFER_MAX_RECORDS', 10_000, 1, 1_000_000),
    token: ((value) => {
      if (value === undefined || /^[\x21-\x7e]{16,512}$/.test(value)) return value;
      problems.push(
        'ALERT_WEBHOOK_TOKEN must be 16 to 512 printable characters without spaces (got a value that is not)',
      );
      return undefined;
    })(raw('ALERT_WEBHOOK_TOKEN')),
  };
  if (problems.length > 0) throw new ConfigError('alert-webhook', problems);
  return Object.freeze(config);
}

/** The process environment, validated: what the alert-webhook's `main.ts` starts with. */
export function alertWebhookConfig(): AlertWebhookConfig {
  return loadAlertWebhookConfig(processEnvironment());
}
