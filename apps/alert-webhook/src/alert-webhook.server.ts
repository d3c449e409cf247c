import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { LabLogger } from '#lab/logging';
import {
  InvalidNotificationError,
  parseNotification,
  type WebhookAlert,
  type WebhookNotification,
} from './alert-payload.js';

/** Alertmanager's notifications are a few KiB; anything near this is not one. */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;
const CONTEXT = 'AlertWebhook';

export interface AlertWebhookOptions {
  readonly logger: Pick<LabLogger, 'log' | 'warn' | 'error'>;
  readonly bodyLimitBytes?: number;
}

export interface AlertWebhook {
  readonly server: Server;
  /** Readiness answers 503 from now on; stops accepting connections and waits for requests in flight. */
  close(): Promise<void>;
}

/**
 * Alertmanager's webhook receiver: `POST /alerts` writes one log record per alert (stdout and Fluentd,
 * so alerts are searchable in Kibana next to the logs that explain them); `GET /health/live` and
 * `/health/ready`. Not listening yet: call `server.listen`.
 */
export function createAlertWebhook(options: AlertWebhookOptions): AlertWebhook {
  const { logger } = options;
  const bodyLimit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  let closing = false;

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? '/').split('?')[0].replace(/\/+$/, '') || '/';
    if (path === '/health/live' || path === '/health/ready') {
      if (request.method !== 'GET' && request.method !== 'HEAD')
        return sendProblem(response, 405, undefined, { allow: 'GET, HEAD' });
      const up = path === '/health/live' || !closing;
      return sendJson(response, up ? 200 : 503, { status: up ? 'ok' : 'shutting_down' });
    }
    if (path !== '/alerts') return sendProblem(response, 404, `no route ${request.method} ${path}`);
    if (request.method !== 'POST') return sendProblem(response, 405, 'alerts are POSTed', { allow: 'POST' });

    const body = await readBody(request, bodyLimit);
    if (body === 'too_large') {
      logger.warn(`rejected a notification larger than ${bodyLimit} bytes`, CONTEXT);
      return sendProblem(response, 413, `the body is limited to ${bodyLimit} bytes`, { connection: 'close' });
    }
    let notification: WebhookNotification;
    try {
      notification = parseNotification(JSON.parse(body.toString('utf8')));
    } catch (error) {
      const detail = error instanceof InvalidNotificationError ? error.message : 'the body is not JSON';
      logger.warn(`rejected a notification: ${detail}`, CONTEXT);
      return sendProblem(response, 400, detail);
    }
    for (const alert of notification.alerts) logAlert(logger, alert, notification);
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
