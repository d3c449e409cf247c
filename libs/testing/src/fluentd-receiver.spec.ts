import { connect } from 'node:net';
import fluentLogger from 'fluent-logger';
import { afterEach, describe, expect, it } from 'vitest';
// The stand-in lives in libs/testing; it is checked here against fluent-logger, the reference client.
import { type FluentdReceiver, startFluentdReceiver } from './fluentd-receiver.js';

const receivers: FluentdReceiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((receiver) => receiver.stop()));
});

function connectTo(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve();
    });
    socket.on('error', reject);
  });
}

const quiet = { info: () => undefined, error: () => undefined };

function messageSender(port: number) {
  return fluentLogger.createFluentSender<Record<string, unknown>>('app', {
    host: '127.0.0.1',
    port,
    requireAckResponse: true,
    ackResponseTimeout: 1_000,
    internalLogger: quiet,
  });
}

function emit(sender: fluentLogger.FluentSender<Record<string, unknown>>, record: Record<string, unknown>) {
  return new Promise<void>((resolve, reject) =>
    sender.emit('things', record, (error) => (error ? reject(error) : resolve())),
  );
}

describe(startFluentdReceiver.name, () => {
  it.each(['Message', 'PackedForward', 'CompressedPackedForward'])(
    'decodes what fluent-logger sends in %s mode and acknowledges it',
    async (eventMode) => {
      const receiver = await startFluentdReceiver();
      receivers.push(receiver);
      const sender = fluentLogger.createFluentSender<Record<string, unknown>>('app', {
        host: '127.0.0.1',
        port: receiver.port,
        eventMode,
        requireAckResponse: true,
        ackResponseTimeout: 3_000,
        flushInterval: 10,
        internalLogger: quiet,
      });
      // The callbacks resolve only once the receiver's ack came back.
      await Promise.all([
        emit(sender, { n: 1, text: 'héllo' }),
        emit(sender, { n: 2, nested: { ok: true } }),
      ]);
      sender.end('things', { n: 3 }, () => undefined);
      await receiver.waitFor((records) => records.length === 3, 3_000);
      expect(receiver.records.map((r) => r.tag)).toEqual(['app.things', 'app.things', 'app.things']);
      expect(receiver.records.map((r) => r.record)).toEqual([
        { n: 1, text: 'héllo' },
        { n: 2, nested: { ok: true } },
        { n: 3 },
      ]);
      expect(receiver.records[0].time).toBeCloseTo(Date.now() / 1000, -1);
    },
  );

  it('comes back on the same port after stop(), keeping what it had received', async () => {
    const receiver = await startFluentdReceiver();
    receivers.push(receiver);
    const { port } = receiver;
    // end(): emit, wait for the ack, disconnect.
    const send = (n: number) =>
      new Promise<void>((resolve, reject) =>
        messageSender(port).end('things', { n }, (error) => (error ? reject(error) : resolve())),
      );
    await send(1);
    await receiver.stop();
    await expect(connectTo(port)).rejects.toThrow(/ECONNREFUSED/);
    await receiver.restart();
    expect(receiver.port).toBe(port);
    await send(3);
    expect(receiver.records.map((r) => r.record)).toEqual([{ n: 1 }, { n: 3 }]);
  });

  it('answers no ack when told not to, standing in for a stuck Fluentd', async () => {
    const receiver = await startFluentdReceiver({ ack: false });
    receivers.push(receiver);
    const sender = fluentLogger.createFluentSender<Record<string, unknown>>('app', {
      host: '127.0.0.1',
      port: receiver.port,
      requireAckResponse: true,
      ackResponseTimeout: 200,
      internalLogger: quiet,
    });
    await expect(emit(sender, { n: 1 })).rejects.toThrow(/ack response timeout/);
    expect(receiver.records).toHaveLength(1);
    expect(receiver.chunks).toHaveLength(1);
  });
});
