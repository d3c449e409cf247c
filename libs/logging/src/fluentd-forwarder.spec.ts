import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { register } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { type FluentdReceiver, startFluentdReceiver } from '#lab/testing';
import { DROPPED_RECORDS_METRIC, FluentdForwarder } from './fluentd-forwarder.js';
import { type FluentdTarget, LabLogger } from './lab-logger.js';

type Json = Record<string, unknown>;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function receiver(options?: Parameters<typeof startFluentdReceiver>[0]): Promise<FluentdReceiver> {
  const started = await startFluentdReceiver(options);
  cleanups.push(() => started.stop());
  return started;
}

function logger(fluent: FluentdTarget): { logger: LabLogger; stdout: () => Json[] } {
  const lines: string[] = [];
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      callback();
    },
  });
  const created = new LabLogger({ service: 'order', level: 'info', stdout, fluent });
  cleanups.push(() => created.close(100));
  return { logger: created, stdout: () => lines.map((line) => JSON.parse(line) as Json) };
}

function messagesOf(fluentd: FluentdReceiver, prefix: string): string[] {
  return fluentd.records.map((r) => String(r.record.message)).filter((message) => message.startsWith(prefix));
}

async function droppedCount(): Promise<number> {
  const metric = register.getSingleMetric(DROPPED_RECORDS_METRIC);
  const values = (await metric?.get())?.values ?? [];
  return values.find((value) => value.labels.reason === 'buffer_full')?.value ?? 0;
}

/** A service stand-in that logs once per request, to see whether logging ever holds a request up. */
async function loggingServer(log: LabLogger): Promise<{ url: string; server: Server }> {
  const server = createServer((request, response) => {
    log.log(`served ${request.url}`);
    response.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

interface FluentdProxy {
  readonly port: number;
  /** Holds back what Fluentd sends (its acks) this long: a slow Fluentd. */
  ackDelayMs: number;
  /** Resets that many of the next connections as soon as they send something: Fluentd dying mid-batch. */
  resetNext: number;
}

/** A TCP proxy in front of the receiver, for the network failures the receiver cannot play. */
async function fluentdProxy(targetPort: number): Promise<FluentdProxy> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = createTcpServer((client) => {
    track(client);
    if (proxy.resetNext > 0) {
      proxy.resetNext -= 1;
      client.once('data', () => client.resetAndDestroy());
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    track(upstream);
    client.pipe(upstream);
    upstream.on('data', (data: Buffer) => {
      const forward = () => {
        if (!client.destroyed) client.write(data);
      };
      if (proxy.ackDelayMs > 0) setTimeout(forward, proxy.ackDelayMs);
      else forward();
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  const proxy: FluentdProxy = { port: (server.address() as AddressInfo).port, ackDelayMs: 0, resetNext: 0 };
  return proxy;
}

function copiesOf(fluentd: FluentdReceiver, prefix: string): Map<string, number> {
  const copies = new Map<string, number>();
  for (const message of messagesOf(fluentd, prefix)) copies.set(message, (copies.get(message) ?? 0) + 1);
  return copies;
}

/** Runs `script` (an ES module) in a fresh Node process; resolves with its stdout and how long it ran after `closed`. */
function runScript(script: string): Promise<{ stdout: string; exitedAfterCloseMs: number }> {
  return new Promise((resolve, reject) => {
    // Node's own TypeScript support loads the forwarder (parameter properties need the transform).
    const child = spawn(
      process.execPath,
      ['--experimental-transform-types', '--no-warnings', '--input-type=module'],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    let stdout = '';
    let closedAt = 0;
    child.stdout.on('data', (data: Buffer) => {
      stdout += data.toString();
      if (!closedAt && stdout.includes('closed')) closedAt = Date.now();
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('exit', () => {
      clearTimeout(killer);
      resolve({ stdout, exitedAfterCloseMs: closedAt ? Date.now() - closedAt : Number.NaN });
    });
    child.stdin.end(script);
  });
}

describe(FluentdForwarder.name, () => {
  it('ships every record to Fluentd, tagged app.<service>, as it is written to stdout', async () => {
    const fluentd = await receiver();
    const { logger: log, stdout } = logger({ host: '127.0.0.1', port: fluentd.port });
    const before = Date.now() / 1000;
    log.log('order created', { orderId: 'o-1', password: 'hunter2' }, 'OrdersService');
    log.warn('stock low');
    log.error(new Error('payment failed'));
    await fluentd.waitFor((records) => records.length === 3, 5_000);
    expect(fluentd.records.map((r) => r.tag)).toEqual(['app.order', 'app.order', 'app.order']);
    expect(fluentd.records.map((r) => r.record)).toEqual(stdout());
    expect(fluentd.records[0].record).toMatchObject({
      orderId: 'o-1',
      password: '[REDACTED]',
      context: 'OrdersService',
    });
    expect(fluentd.records[0].time).toBeGreaterThanOrEqual(Math.floor(before));
    expect(fluentd.records[0].time).toBeLessThanOrEqual(Date.now() / 1000);
  });

  it('ships the records stdout gets at or above the level, access records too, queued by the time the call returns and timed as stamped', async () => {
    const fluentd = await receiver();
    const { logger: log, stdout } = logger({ host: '127.0.0.1', port: fluentd.port });
    log.debug('not at info');
    log.verbose('not at info');
    log.log('stock reserved', { productId: 'p-1', quantity: 2 }, 'StockService');
    expect(log.pendingRecords).toBe(1);
    log.access('error', {
      'http.method': 'POST',
      'http.route': '/orders',
      'http.status_code': 503,
      'url.path': '/orders',
      duration_ms: 3.5,
      'client.address': '127.0.0.1',
      request_id: 'req-1',
    });
    expect(log.pendingRecords).toBe(2);
    expect(await log.flush(5_000)).toBe(true);
    expect(stdout().map((r) => r.message)).toEqual(['stock reserved', 'POST /orders 503']);
    expect(fluentd.records.map((r) => r.record)).toEqual(stdout());
    for (const { time, record } of fluentd.records) {
      expect(Math.round(time * 1000)).toBe(Date.parse(String(record['@timestamp'])));
    }
  });

  it('ships each record as it was logged, even when its objects change afterwards', async () => {
    const fluentd = await receiver();
    const { logger: log, stdout } = logger({ host: '127.0.0.1', port: fluentd.port });
    const order = { status: 'created', lines: [1] };
    log.log('order logged', { order });
    order.status = 'cancelled';
    order.lines.push(2);
    await fluentd.waitFor((records) => records.length === 1, 5_000);
    expect(fluentd.records[0].record).toEqual(stdout()[0]);
    expect(fluentd.records[0].record.order).toEqual({ status: 'created', lines: [1] });
  });

  it('delivers every record logged while Fluentd was down once it is back, and never holds up a request', async () => {
    const fluentd = await receiver();
    const { logger: log, stdout } = logger({ host: '127.0.0.1', port: fluentd.port });
    const { url } = await loggingServer(log);
    log.log('before the outage');
    await fluentd.waitFor((records) => records.length === 1, 5_000);

    await fluentd.stop();
    let sent = 0;
    let slowest = 0;
    const outageEnds = Date.now() + 4_000;
    while (Date.now() < outageEnds) {
      const started = performance.now();
      const response = await fetch(`${url}/during-outage/${sent}`);
      expect(await response.text()).toBe('ok');
      slowest = Math.max(slowest, performance.now() - started);
      log.log(`outage record ${sent}`);
      sent += 1;
      await sleep(20);
    }
    expect(sent).toBeGreaterThan(50);
    // A logger waiting on Fluentd would hold requests for its connect timeout or the whole outage; the
    // bound leaves room for a stall of a loaded machine in this one process.
    expect(slowest).toBeLessThan(1000);
    expect(stdout().filter((r) => String(r.message).startsWith('outage record'))).toHaveLength(sent);

    await fluentd.restart();
    await fluentd.waitFor(() => new Set(messagesOf(fluentd, 'outage record')).size === sent, 10_000);
    expect(new Set(messagesOf(fluentd, 'served /during-outage/')).size).toBe(sent);
    expect(await log.flush(2_000)).toBe(true);
    const notices = stdout()
      .filter((r) => r.context === 'FluentdForwarder')
      .map((r) => String(r.message));
    expect(notices).toEqual([
      expect.stringMatching(/^Fluentd at 127\.0\.0\.1:\d+ unreachable .*retrying every 1000 ms$/),
      expect.stringMatching(/^Fluentd is reachable again; delivering \d+ buffered log records$/),
    ]);
  });

  it('keeps at most maxBufferedRecords, drops newer records and counts them in log_records_dropped_total', async () => {
    const fluentd = await receiver();
    await fluentd.stop();
    const { logger: log, stdout } = logger({ host: '127.0.0.1', port: fluentd.port, maxBufferedRecords: 5 });
    const droppedBefore = await droppedCount();
    for (let i = 0; i < 12; i += 1) log.log(`bounded ${i}`);
    expect(log.pendingRecords).toBe(5);
    expect(await droppedCount()).toBe(droppedBefore + 7);
    expect(await register.metrics()).toMatch(/^log_records_dropped_total\{reason="buffer_full"\} \d+$/m);
    expect(stdout().filter((r) => String(r.message).startsWith('bounded'))).toHaveLength(12);

    await fluentd.restart();
    expect(await log.flush(5_000)).toBe(true);
    expect(messagesOf(fluentd, 'bounded')).toEqual([
      'bounded 0',
      'bounded 1',
      'bounded 2',
      'bounded 3',
      'bounded 4',
    ]);
    log.log('bounded after recovery');
    await fluentd.waitFor(() => messagesOf(fluentd, 'bounded after').length === 1, 5_000);
  });

  it('resends records Fluentd did not acknowledge within the ack timeout', async () => {
    const fluentd = await receiver({ ack: false });
    const { logger: log } = logger({
      host: '127.0.0.1',
      port: fluentd.port,
      ackTimeoutMs: 300,
      reconnectIntervalMs: 100,
    });
    log.log('needs an ack');
    await fluentd.waitFor(() => messagesOf(fluentd, 'needs an ack').length >= 2, 5_000);
    expect(new Set(fluentd.chunks).size).toBe(fluentd.chunks.length);
    expect(log.pendingRecords).toBe(1);

    fluentd.ack = true;
    expect(await log.flush(5_000)).toBe(true);
    const copies = messagesOf(fluentd, 'needs an ack').length;
    await sleep(500);
    expect(messagesOf(fluentd, 'needs an ack')).toHaveLength(copies);
  });

  it('never throws and keeps writing stdout when Fluentd is unreachable from the start', async () => {
    const fluentd = await receiver();
    await fluentd.stop();
    const { logger: log, stdout } = logger({ host: '127.0.0.1', port: fluentd.port });
    expect(() => {
      for (let i = 0; i < 50; i += 1) log.log(`unreachable ${i}`);
    }).not.toThrow();
    expect(stdout().filter((r) => String(r.message).startsWith('unreachable'))).toHaveLength(50);
    const started = Date.now();
    expect(await log.flush(300)).toBe(false);
    expect(Date.now() - started).toBeLessThan(1_000);
    await log.close(100);
    log.log('after close');
    expect(stdout().at(-1)).toMatchObject({ message: 'after close' });
    expect(stdout().some((r) => /closing with 50 log records not delivered/.test(String(r.message)))).toBe(
      true,
    );
  });

  it('resends what a slow Fluentd acknowledged too late, on a new connection, without shifting later acks', async () => {
    const fluentd = await receiver();
    const proxy = await fluentdProxy(fluentd.port);
    const { logger: log } = logger({
      host: '127.0.0.1',
      port: proxy.port,
      ackTimeoutMs: 200,
      reconnectIntervalMs: 100,
    });
    proxy.ackDelayMs = 600;
    for (let i = 0; i < 20; i += 1) log.log(`slow ${i}`);
    await fluentd.waitFor(() => messagesOf(fluentd, 'slow').length >= 60, 5_000);
    proxy.ackDelayMs = 0;
    expect(await log.flush(5_000)).toBe(true);
    const attempts = new Set(fluentd.chunks).size;
    expect(attempts).toBe(fluentd.chunks.length);
    // One copy per attempt: every attempt carried the 20 records, no attempt more than once.
    expect([...copiesOf(fluentd, 'slow').values()]).toEqual(Array(20).fill(attempts));

    // A late ack of an abandoned attempt is never taken for a later batch's: no more copies.
    for (let i = 0; i < 20; i += 1) log.log(`timely ${i}`);
    expect(await log.flush(5_000)).toBe(true);
    await sleep(500);
    expect([...copiesOf(fluentd, 'timely').values()]).toEqual(Array(20).fill(1));
    expect(messagesOf(fluentd, 'slow')).toHaveLength(20 * attempts);
  });

  it('survives Fluentd resetting connections in the middle of a batch, with one notice per change', async () => {
    const fluentd = await receiver();
    const proxy = await fluentdProxy(fluentd.port);
    const { logger: log, stdout } = logger({ host: '127.0.0.1', port: proxy.port, reconnectIntervalMs: 100 });
    proxy.resetNext = 3;
    for (let i = 0; i < 200; i += 1) log.log(`reset ${i}`, { padding: 'x'.repeat(2_000) });
    expect(await log.flush(5_000)).toBe(true);
    expect([...copiesOf(fluentd, 'reset').values()]).toEqual(Array(200).fill(1));
    expect(fluentd.records.map((r) => r.record.message)).toEqual(
      [...Array(200).keys()].map((i) => `reset ${i}`),
    );
    const notices = stdout()
      .filter((r) => r.context === 'FluentdForwarder')
      .map((r) => String(r.message));
    expect(notices).toEqual([
      expect.stringMatching(/^Fluentd at 127\.0\.0\.1:\d+ unreachable \((ECONNRESET|connection closed)\)/),
      'Fluentd is reachable again; delivering 0 buffered log records',
    ]);
  });

  it('leaves nothing that keeps the process alive once closed, with a batch unacknowledged or Fluentd down', async () => {
    const forwarder = fileURLToPath(new URL('./fluentd-forwarder.ts', import.meta.url));
    const { stdout, exitedAfterCloseMs } = await runScript(`
      import { createServer } from 'node:net';
      import { FluentdForwarder } from ${JSON.stringify(forwarder)};
      const sockets = new Set();
      // Reads everything, never acknowledges.
      const server = createServer((socket) => {
        sockets.add(socket);
        socket.on('error', () => undefined);
        socket.resume();
      });
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      const options = { host: '127.0.0.1', tag: 'app.test', ackTimeoutMs: 30_000, reconnectIntervalMs: 30_000 };
      const stuck = new FluentdForwarder({ ...options, port: server.address().port });
      const down = new FluentdForwarder({ ...options, port: 1 });
      stuck.send({ message: 'never acknowledged' });
      down.send({ message: 'never connected' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const pending = stuck.pending + down.pending;
      await Promise.all([stuck.close(100), down.close(100)]);
      server.close();
      for (const socket of sockets) socket.destroy();
      console.log('closed', pending);
    `);
    expect(stdout.trim()).toBe('closed 2');
    expect(exitedAfterCloseMs).toBeLessThan(2_000);
  });

  it('sends what is logged within batchDelayMs as one message, whatever the event-loop turns between, and flush() does not wait for it', async () => {
    const fluentd = await receiver();
    const { logger: log } = logger({ host: '127.0.0.1', port: fluentd.port, batchDelayMs: 60_000 });
    log.log('connect first');
    expect(await log.flush(5_000)).toBe(true);
    const before = fluentd.chunks.length;
    for (let i = 0; i < 5; i += 1) {
      log.log(`turn ${i}`);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await log.flush(5_000)).toBe(true);
    expect(messagesOf(fluentd, 'turn')).toHaveLength(5);
    expect(fluentd.chunks.length - before).toBe(1);
  });

  it('delivers a burst in batches, and flush() resolves once Fluentd has acknowledged all of it', async () => {
    const fluentd = await receiver();
    const { logger: log } = logger({ host: '127.0.0.1', port: fluentd.port });
    for (let i = 0; i < 3_000; i += 1) log.log(`burst ${i}`, { i });
    expect(await log.flush(5_000)).toBe(true);
    expect(messagesOf(fluentd, 'burst')).toHaveLength(3_000);
    expect(fluentd.chunks.length).toBeLessThan(3_000 / 100);
    expect(fluentd.records.map((r) => r.record.i)).toEqual([...Array(3_000).keys()]);
  });
});
