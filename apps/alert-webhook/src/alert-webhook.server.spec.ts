import type { AddressInfo } from 'node:net';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LabLogger } from '#lab/logging';
import { type FluentdReceiver, startFluentdReceiver } from '#lab/testing';
import { type AlertWebhook, createAlertWebhook } from './alert-webhook.server.js';

/** An Alertmanager 0.25+ webhook notification, as it POSTs them. */
function notification(alerts: Record<string, unknown>[], status = 'firing') {
  return {
    version: '4',
    groupKey: '{}:{alertname="ServiceDown", service="order"}',
    truncatedAlerts: 0,
    status,
    receiver: 'alert-webhook',
    groupLabels: { alertname: 'ServiceDown', service: 'order' },
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    alerts,
  };
}

function alert(labels: Record<string, string>, overrides: Record<string, unknown> = {}) {
  return {
    status: 'firing',
    labels,
    annotations: {
      summary: `${labels.service ?? 'something'} is down`,
      description: 'Prometheus cannot scrape it.',
      runbook_url:
        'https://github.com/observability-lab/observability-lab/blob/main/docs/runbooks.md#service-down',
    },
    startsAt: '2025-01-01T10:00:00.000Z',
    endsAt: '0001-01-01T00:00:00Z',
    generatorURL: 'http://prometheus:9090/graph?g0.expr=up+%3D%3D+0',
    fingerprint: 'a1b2c3d4e5f60708',
    ...overrides,
  };
}

describe(createAlertWebhook.name, () => {
  let fluentd: FluentdReceiver;
  let logger: LabLogger;
  let webhook: AlertWebhook;
  let url: string;
  const lines: Record<string, unknown>[] = [];

  const TOKEN = 'a-token-alertmanager-sends';
  const post = (body: string | object, headers: Record<string, string> = {}) =>
    fetch(`${url}/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const alertLines = () => lines.filter((line) => line['alert.name'] !== undefined);

  beforeAll(async () => {
    fluentd = await startFluentdReceiver();
    const stdout = new PassThrough();
    let buffered = '';
    stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const complete = buffered.split('\n');
      buffered = complete.pop() ?? '';
      for (const line of complete) lines.push(JSON.parse(line) as Record<string, unknown>);
    });
    logger = new LabLogger({
      service: 'alert-webhook',
      level: 'info',
      stdout,
      fluent: { host: '127.0.0.1', port: fluentd.port },
    });
    webhook = createAlertWebhook({ logger, bodyLimitBytes: 4096, token: TOKEN });
    await new Promise<void>((resolve) => webhook.server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(webhook.server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await webhook?.close();
    await logger?.close(1000);
    await fluentd?.stop();
  });

  beforeEach(() => {
    lines.length = 0;
  });

  it('writes one record per alert, to stdout and to Fluentd as app.alert-webhook, at the level of its severity', async () => {
    const response = await post(
      notification([
        alert({
          alertname: 'ServiceDown',
          service: 'order',
          severity: 'critical',
          instance: 'order:3004',
          job: 'order',
        }),
        alert(
          { alertname: 'SlowResponses', service: 'product', severity: 'warning' },
          { fingerprint: 'ffff000011112222' },
        ),
        alert({ alertname: 'FaultInjectionActive', service: 'order', severity: 'info', fault: 'latency' }),
      ]),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ logged: 3 });

    expect(alertLines()).toHaveLength(3);
    const [down, slow, fault] = alertLines();
    expect(down).toMatchObject({
      level: 'error',
      service: 'alert-webhook',
      context: 'AlertWebhook',
      message: '[FIRING] ServiceDown (order): order is down',
      'alert.name': 'ServiceDown',
      'alert.status': 'firing',
      'alert.severity': 'critical',
      'alert.service': 'order',
      'alert.summary': 'order is down',
      'alert.description': 'Prometheus cannot scrape it.',
      'alert.runbook_url':
        'https://github.com/observability-lab/observability-lab/blob/main/docs/runbooks.md#service-down',
      'alert.starts_at': '2025-01-01T10:00:00.000Z',
      'alert.fingerprint': 'a1b2c3d4e5f60708',
      'alert.labels':
        'alertname="ServiceDown", service="order", severity="critical", instance="order:3004", job="order"',
      'alert.generator_url': 'http://prometheus:9090/graph?g0.expr=up+%3D%3D+0',
      'alert.receiver': 'alert-webhook',
    });
    expect(down).not.toHaveProperty('alert.ends_at');
    expect(slow).toMatchObject({
      level: 'warn',
      'alert.name': 'SlowResponses',
      'alert.fingerprint': 'ffff000011112222',
    });
    expect(fault).toMatchObject({ level: 'info', 'alert.severity': 'info' });

    const shipped = await fluentd.waitFor(
      (records) => records.filter((r) => r.record['alert.name'] !== undefined).length >= 3,
      5000,
    );
    const alerts = shipped.filter((r) => r.record['alert.name'] !== undefined);
    expect(alerts.map((r) => r.tag)).toEqual(['app.alert-webhook', 'app.alert-webhook', 'app.alert-webhook']);
    expect(alerts[0].record).toMatchObject({
      service: 'alert-webhook',
      'alert.name': 'ServiceDown',
      'alert.service': 'order',
    });
  });

  it('logs a resolved alert at info with its end time, whatever its severity', async () => {
    const resolved = alert(
      { alertname: 'ServiceDown', service: 'order', severity: 'critical' },
      { status: 'resolved', endsAt: '2025-01-01T10:05:00.000Z' },
    );
    expect((await post(notification([resolved], 'resolved'))).status).toBe(200);
    expect(alertLines()).toEqual([
      expect.objectContaining({
        level: 'info',
        message: '[RESOLVED] ServiceDown (order): order is down',
        'alert.status': 'resolved',
        'alert.ends_at': '2025-01-01T10:05:00.000Z',
      }),
    ]);
  });

  it.each([
    ['not JSON', 'alerts: yes please', 'the body is not JSON'],
    ['a JSON array', '[]', 'the body must be a JSON object'],
    ['no alerts', JSON.stringify(notification([])), 'alerts must be a non-empty array'],
    [
      'an unknown status',
      JSON.stringify(notification([alert({ alertname: 'X' })], 'burning')),
      'status must be one of firing, resolved',
    ],
    [
      'an alert without alertname',
      JSON.stringify(notification([alert({ service: 'order' })])),
      'alerts[0].labels.alertname is required',
    ],
    [
      'a label that is not a string',
      JSON.stringify(notification([alert({ alertname: 'X', n: 1 } as never)])),
      'alerts[0].labels.n must be a string',
    ],
    [
      'a bad start time',
      JSON.stringify(notification([alert({ alertname: 'X' }, { startsAt: 'yesterday' })])),
      'alerts[0].startsAt must be a timestamp',
    ],
  ])('answers 400 to %s and logs no alert', async (_case, body, detail) => {
    const response = await post(body);
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toEqual({ type: 'about:blank', title: 'Bad Request', status: 400, detail });
    expect(alertLines()).toEqual([]);
    expect(lines).toEqual([
      expect.objectContaining({ level: 'warn', message: `rejected a notification: ${detail}` }),
    ]);
  });

  it('answers 413 to a body over the limit, announced or streamed, without logging it', async () => {
    const big = JSON.stringify(notification([alert({ alertname: 'Big', filler: 'x'.repeat(5000) })]));
    const announced = await post(big);
    expect(announced.status).toBe(413);
    expect(await announced.json()).toMatchObject({
      status: 413,
      detail: 'the body is limited to 4096 bytes',
    });

    // Chunked: no content-length, the limit is hit while reading.
    const streamed = await new Promise<number>((resolve, reject) => {
      const request = httpRequest(
        `${url}/alerts`,
        { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` } },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      request.on('error', reject);
      request.write(big.slice(0, 3000));
      setTimeout(() => request.end(big.slice(3000)), 50);
    });
    expect(streamed).toBe(413);
    expect(alertLines()).toEqual([]);
  });

  it('refuses a notification without the bearer token, or with another, with 401; logs none of its alerts; counts it', async () => {
    const metric = async () => {
      const text = await (await fetch(`${url}/metrics`)).text();
      return Number(
        /^alert_webhook_requests_refused_total\{reason="unauthorized",service="alert-webhook"\} (\d+)$/m.exec(
          text,
        )?.[1],
      );
    };
    const before = await metric();
    const body = notification([alert({ alertname: 'Forged', severity: 'critical' })]);
    for (const authorization of [
      undefined,
      `Bearer ${TOKEN}x`,
      `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`,
      TOKEN,
    ]) {
      const response = await post(
        body,
        authorization === undefined ? { authorization: '' } : { authorization },
      );
      expect(response.status, authorization).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="alert-webhook"');
      expect(await response.json()).toMatchObject({ status: 401, detail: 'a bearer token is required' });
    }
    expect(alertLines()).toEqual([]);
    expect(await metric()).toBe(before + 4);
    // One line for the burst, not one per request.
    expect(lines.filter((line) => /without the bearer token/.test(String(line.message)))).toHaveLength(1);
    expect((await post(body)).status).toBe(200);
  });

  it('answers the health checks, 404 elsewhere and 405 to other methods on /alerts', async () => {
    for (const path of ['/health/live', '/health/ready']) {
      const response = await fetch(`${url}${path}`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ status: 'ok' });
    }
    expect((await fetch(`${url}/other`)).status).toBe(404);
    const put = await fetch(`${url}/alerts`, { method: 'PUT' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, HEAD, POST');
  });

  it('lists the alerts it received with GET /alerts, oldest first, without a token, and counts the reads', async () => {
    const before = Date.now();
    const body = notification([
      alert({ alertname: 'FaultInjectionActive', service: 'product', severity: 'info' }),
      alert(
        { alertname: 'SlowResponses', service: 'product', severity: 'warning' },
        { status: 'resolved', endsAt: '2025-01-01T10:05:00.000Z' },
      ),
    ]);
    expect((await post(body)).status).toBe(200);
    const response = await fetch(`${url}/alerts`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    const { alerts } = (await response.json()) as { alerts: Record<string, unknown>[] };
    const [fault, slow] = alerts.slice(-2);
    expect(fault).toEqual({
      status: 'firing',
      labels: { alertname: 'FaultInjectionActive', service: 'product', severity: 'info' },
      annotations: expect.objectContaining({ summary: 'product is down' }),
      startsAt: '2025-01-01T10:00:00.000Z',
      endsAt: '0001-01-01T00:00:00Z',
      fingerprint: 'a1b2c3d4e5f60708',
      receivedAt: expect.any(String),
    });
    expect(Date.parse(String(fault.receivedAt))).toBeGreaterThanOrEqual(before - 1000);
    expect(slow).toMatchObject({ status: 'resolved', endsAt: '2025-01-01T10:05:00.000Z' });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^alert_webhook_alert_lists_total\{service="alert-webhook"\} [1-9]/m);
  });
});

describe('GET /alerts', () => {
  it('keeps only the last alerts received, up to its limit', async () => {
    const webhook = createAlertWebhook({
      logger: new LabLogger({ service: 'alert-webhook', level: 'error', stdout: new PassThrough() }),
      keptAlerts: 3,
    });
    await new Promise<void>((resolve) => webhook.server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(webhook.server.address() as AddressInfo).port}`;
    try {
      for (let i = 1; i <= 5; i++) {
        const response = await fetch(`${base}/alerts`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(notification([alert({ alertname: `Alert${i}` })])),
        });
        expect(response.status).toBe(200);
      }
      const { alerts } = (await (await fetch(`${base}/alerts`)).json()) as {
        alerts: { labels: Record<string, string> }[];
      };
      expect(alerts.map((a) => a.labels.alertname)).toEqual(['Alert3', 'Alert4', 'Alert5']);
    } finally {
      await webhook.close();
    }
  });
});

describe('AlertWebhook.close', () => {
  it('stops accepting connections, answers readiness 503 on those still open, and resolves when they are done', async () => {
    const webhook = createAlertWebhook({
      logger: new LabLogger({ service: 'alert-webhook', level: 'error', stdout: new PassThrough() }),
    });
    await new Promise<void>((resolve) => webhook.server.listen(0, '127.0.0.1', resolve));
    const { port } = webhook.server.address() as AddressInfo;
    // One connection: a notification still being sent, then a readiness check pipelined behind it.
    const socket = connect(port, '127.0.0.1');
    let answers = '';
    socket.on('data', (chunk: Buffer) => (answers += chunk.toString()));
    const body = JSON.stringify(notification([alert({ alertname: 'X' })]));
    // Headers parsed: the connection is busy with a request, not idle (close() would drop an idle one).
    const requested = once(webhook.server, 'request');
    socket.write(
      `POST /alerts HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, 10)}`,
    );
    await requested;

    const closed = webhook.close();
    expect(webhook.server.listening).toBe(false);
    await expect(fetch(`http://127.0.0.1:${port}/health/live`)).rejects.toThrow();
    socket.end(`${body.slice(10)}GET /health/ready HTTP/1.1\r\nhost: x\r\n\r\n`);
    await closed;
    expect(answers).toMatch(
      /^HTTP\/1\.1 200 [\s\S]*"logged":1[\s\S]*HTTP\/1\.1 503 [\s\S]*"status":"shutting_down"/,
    );
  });
});
