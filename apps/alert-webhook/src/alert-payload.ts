/** One alert of an Alertmanager webhook notification (payload version 4). */
export interface WebhookAlert {
  readonly status: 'firing' | 'resolved';
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly startsAt: string;
  readonly endsAt?: string;
  readonly generatorURL?: string;
  readonly fingerprint?: string;
}

/** What Alertmanager POSTs to a webhook receiver: a group of alerts with what they share. */
export interface WebhookNotification {
  readonly receiver?: string;
  readonly status: 'firing' | 'resolved';
  readonly groupKey?: string;
  readonly alerts: readonly WebhookAlert[];
}

/** Why a body is not an Alertmanager notification: answered as 400 with this message. */
export class InvalidNotificationError extends Error {
  override readonly name = 'InvalidNotificationError';
}

const STATUSES = ['firing', 'resolved'] as const;
/** More than Alertmanager sends for one group in this lab by far; the body limit comes first anyway. */
export const MAX_ALERTS = 1000;

/** Checks the shape of a webhook body (already parsed JSON); throws {@link InvalidNotificationError}. */
export function parseNotification(body: unknown): WebhookNotification {
  if (!isRecord(body)) throw new InvalidNotificationError('the body must be a JSON object');
  const status = oneOf(body.status, STATUSES, 'status');
  if (!Array.isArray(body.alerts) || body.alerts.length === 0) {
    throw new InvalidNotificationError('alerts must be a non-empty array');
  }
  if (body.alerts.length > MAX_ALERTS)
    throw new InvalidNotificationError(`at most ${MAX_ALERTS} alerts per notification`);
  return {
    status,
    receiver: optionalString(body.receiver, 'receiver'),
    groupKey: optionalString(body.groupKey, 'groupKey'),
    alerts: body.alerts.map((alert: unknown, index) => parseAlert(alert, `alerts[${index}]`)),
  };
}

function parseAlert(alert: unknown, at: string): WebhookAlert {
  if (!isRecord(alert)) throw new InvalidNotificationError(`${at} must be an object`);
  const labels = stringMap(alert.labels, `${at}.labels`);
  if (!labels.alertname) throw new InvalidNotificationError(`${at}.labels.alertname is required`);
  const startsAt = optionalString(alert.startsAt, `${at}.startsAt`);
  if (startsAt === undefined || Number.isNaN(Date.parse(startsAt))) {
    throw new InvalidNotificationError(`${at}.startsAt must be a timestamp`);
  }
  return {
    status: oneOf(alert.status, STATUSES, `${at}.status`),
    labels,
    annotations: alert.annotations === undefined ? {} : stringMap(alert.annotations, `${at}.annotations`),
    startsAt,
    endsAt: optionalString(alert.endsAt, `${at}.endsAt`),
    generatorURL: optionalString(alert.generatorURL, `${at}.generatorURL`),
    fingerprint: optionalString(alert.fingerprint, `${at}.fingerprint`),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], at: string): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new InvalidNotificationError(`${at} must be one of ${allowed.join(', ')}`);
}

function optionalString(value: unknown, at: string): string | undefined {
  if (value === undefined || typeof value === 'string') return value;
  throw new InvalidNotificationError(`${at} must be a string`);
}

function stringMap(value: unknown, at: string): Record<string, string> {
  if (!isRecord(value)) throw new InvalidNotificationError(`${at} must be an object`);
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== 'string') throw new InvalidNotificationError(`${at}.${key} must be a string`);
  }
  return value as Record<string, string>;
}
