import { createHash, timingSafeEqual } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { LabLogger } from '#lab/logging';
import { Registry } from 'prom-client';
import { Metrics } from '#lab/telemetry';
import {
  InvalidNotificationError,
  parseNotification,
  type WebhookAlert,
  type WebhookNotification,
} from './alert-payload.js';

/** Alertmanager's notifications are a few KiB; anything near this is not one. */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;
/** Alerts `GET /alerts` lists: the last ones received. */
export const DEFAULT_KEPT_ALERTS = 200;
const CONTEXT = 'AlertWebhook';

export interface AlertWebhookOptions {
  readonly logger: Pick<LabLogger, 'log' | 'warn' | 'error'>;
  readonly bodyLimitBytes?: number;
  /** Bearer token every notification must carry (401 otherwise); undefined: taken from anyone. */
  readonly token?: string;
  /** How many of the last alerts received `GET /alerts` lists ({@link DEFAULT_KEPT_ALERTS}). */
  readonly keptAlerts?: number;
}

/** One alert as `GET /alerts` lists it: as Alertmanager sent it, with when it arrived. */
export interface ReceivedAlert {
  readonly status: 'firing' | 'resolved';
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly startsAt: string;
  readonly endsAt?: string;
  readonly fingerprint?: string;
  readonly receivedAt: string;
}

/** Log refused requests at most this often: whoever sends them must not fill the log pipeline. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;
const REFUSAL_REASONS = ['unauthorized', 'invalid', 'too_large'] as const;
type RefusalReason = (typeof REFUSAL_REASONS)[number];

const digest = (value: string) => createHash('sha256').update(value).digest();
/** Compares in constant time (hashes first, so the lengths are equal too). */
const sameSecret = (given: string, expected: Buffer) => timingSafeEqual(digest(given), expected);

export interface AlertWebhook {
  readonly server: Server;
  /** Readiness answers 503 from now on; stops accepting connections and waits for requests in flight. */
  close(): Promise<void>;
}

/**
 * Alertmanager's webhook receiver: `POST /alerts` (with `Authorization: Bearer <token>` when a token
 * is set) writes one log record per alert (stdout and Fluentd, so alerts are searchable in Kibana next
 * to the logs that explain them); `GET /alerts` lists the last alerts received, oldest first, without a
 * token (what Prometheus' and Alertmanager's own pages show anyone who can reach them; `npm run scenario`
 * reads it to see an alert arrive); `GET /health/live`, `/health/ready` and `/metrics` (refused
 * requests, alerts logged). Not listening yet: call `server.listen`.
 */
export function createAlertWebhook(options: AlertWebhookOptions): AlertWebhook {
  const { logger } = options;
  const bodyLimit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const expectedAuthorization = options.token === undefined ? undefined : digest(`Bearer ${options.token}`);
  let closing = false;

  const registry = new Registry();
  registry.setDefaultLabels({ service: 'alert-webhook' });
  // Its own registry per webhook (no Nest application here): the metrics of this server only.
  const metrics = new Metrics(registry);
  const refused = metrics.counter({
    name: 'alert_webhook_requests_refused_total',
    help: 'POSTs to /alerts refused, by reason (unauthorized: no or a wrong bearer token).',
    labelNames: ['reason'],
    known: { reason: REFUSAL_REASONS },
  });
  const logged = metrics.counter({
    name: 'alert_webhook_alerts_logged_total',
    help: 'Alerts written to the log, by status.',
    labelNames: ['status'],
    known: { status: ['firing', 'resolved'] },
  });
  const listed = metrics.counter({
    name: 'alert_webhook_alert_lists_total',
    help: 'GET /alerts answered (the last alerts received, for npm run scenario and people).',
  });
  const keep = options.keptAlerts ?? DEFAULT_KEPT_ALERTS;
  const received: ReceivedAlert[] = [];
  let unauthorizedSinceLog = 0;
  let lastUnauthorizedLog = 0;
  const refuse = (reason: RefusalReason) => refused.inc({ reason });

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? '/').split('?')[0].replace(/\/+$/, '') || '/';
    if (path === '/health/live' || path === '/health/ready') {
      if (request.method !== 'GET' && request.method !== 'HEAD')
        return sendProblem(response, 405, undefined, { allow: 'GET, HEAD' });
      const up = path === '/health/live' || !closing;
      return sendJson(response, up ? 200 : 503, { status: up ? 'ok' : 'shutting_down' });
    }
    if (path === '/metrics' && (request.method === 'GET' || request.method === 'HEAD')) {
      response.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
      return void response.end(await registry.metrics());
    }
    if (path !== '/alerts') return sendProblem(response, 404, `no route ${request.method} ${path}`);
    if (request.method === 'GET' || request.method === 'HEAD') {
      listed.inc();
      return sendJson(response, 200, { alerts: received });
    }
    if (request.method !== 'POST')
      return sendProblem(response, 405, 'alerts are POSTed (and listed with GET)', {
        allow: 'GET, HEAD, POST',
      });
    if (expectedAuthorization && !sameSecret(request.headers.authorization ?? '', expectedAuthorization)) {
      refuse('unauthorized');
      unauthorizedSinceLog++;
      if (Date.now() - lastUnauthorizedLog >= REFUSAL_LOG_INTERVAL_MS) {
        logger.warn(
          `refused ${unauthorizedSinceLog} notification(s) without the bearer token (the last from ${request.socket.remoteAddress ?? 'unknown'})`,
          CONTEXT,
        );
        unauthorizedSinceLog = 0;
        lastUnauthorizedLog = Date.now();
      }
      request.resume();
      return sendProblem(response, 401, 'a bearer token is required', {
        'www-authenticate': 'Bearer realm="alert-webhook"',
      });
    }

    const body = await readBody(request, bodyLimit);
    if (body === 'too_large') {
      refuse('too_large');
      logger.warn(`rejected a notification larger than ${bodyLimit} bytes`, CONTEXT);
      return sendProblem(response, 413, `the body is limited to ${bodyLimit} bytes`, { connection: 'close' });
    }
    let notification: WebhookNotification;
    try {
      notification = parseNotification(JSON.parse(body.toString('utf8')));
    } catch (error) {
      const detail = error instanceof InvalidNotificationError ? error.message : 'the body is not JSON';
      refuse('invalid');
      logger.warn(`rejected a notification: ${detail}`, CONTEXT);
      return sendProblem(response, 400, detail);
    }
    const receivedAt = new Date().toISOString();
    for (const alert of notification.alerts) {
      logAlert(logger, alert, notification);
      logged.inc({ status: alert.status });
      const { status, labels, annotations, startsAt, endsAt, fingerprint } = alert;
      received.push({ status, labels, annotations, startsAt, endsAt, fingerprint, receivedAt });
    }
    if (received.length > keep) received.splice(0, received.length - keep);
    sendJson(response, 200, { logged: notification.alerts.length });
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      logger.error(error instanceof Error ? error : String(error), CONTEXT);
      if (!response.headersSent) sendProblem(response, 500);
      else response.destroy();
    });
  });
  // A slow or stuck client must not hold a connection (and the shutdown) forever.
  server.requestTimeout = 10_000;
  server.headersTimeout = 10_000;

  return {
    server,
    close() {
      closing = true;
      return new Promise((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    },
  };
}

/** One record per alert; its level follows the alert: critical → error, warning → warn, else info. */
function logAlert(
  logger: AlertWebhookOptions['logger'],
  alert: WebhookAlert,
  notification: WebhookNotification,
): void {
  const { alertname, severity, service } = alert.labels;
  const resolved = alert.status === 'resolved';
  const message = `[${alert.status.toUpperCase()}] ${alertname}${service ? ` (${service})` : ''}: ${alert.annotations.summary ?? alertname}`;
  const fields = {
    message,
    'alert.name': alertname,
    'alert.status': alert.status,
    'alert.severity': severity,
    'alert.service': service,
    'alert.summary': alert.annotations.summary,
    'alert.description': alert.annotations.description,
    'alert.runbook_url': alert.annotations.runbook_url,
    'alert.starts_at': alert.startsAt,
    ...(resolved && { 'alert.ends_at': alert.endsAt }),
    'alert.fingerprint': alert.fingerprint,
    'alert.labels': Object.entries(alert.labels)
      .map(([name, value]) => `${name}=${JSON.stringify(value)}`)
      .join(', '),
    'alert.generator_url': alert.generatorURL,
    'alert.receiver': notification.receiver,
    'alert.group_key': notification.groupKey,
  };
  if (!resolved && severity === 'critical') logger.error(fields, CONTEXT);
  else if (!resolved && severity === 'warning') logger.warn(fields, CONTEXT);
  else logger.log(fields, CONTEXT);
}

/** The body, or 'too_large' as soon as it exceeds `limit` (announced or received). */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer | 'too_large'> {
  return new Promise((resolve, reject) => {
    if (Number(request.headers['content-length'] ?? 0) > limit) {
      request.resume();
      return resolve('too_large');
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        request.removeAllListeners('data');
        request.resume();
        resolve('too_large');
      } else chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  contentType = 'application/json',
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', ...headers });
  response.end(JSON.stringify(body));
}

function sendProblem(
  response: ServerResponse,
  status: number,
  detail?: string,
  headers: Record<string, string> = {},
): void {
  const body = {
    type: 'about:blank',
    title: STATUS_CODES[status] ?? 'Error',
    status,
    ...(detail && { detail }),
  };
  sendJson(response, status, body, 'application/problem+json', headers);
}
