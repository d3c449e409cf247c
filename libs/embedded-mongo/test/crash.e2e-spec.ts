import { appendFile, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningProcess, freePort, startNode } from '#lab/testing';
import { MongoClient } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedMongoServer } from '../src/embedded-mongo.server.js';

const CLI = 'dist/libs/embedded-mongo/src/cli.js';

const running: RunningProcess[] = [];
const dirs: string[] = [];

async function startStore(dataDir: string): Promise<{ store: RunningProcess; uri: string; port: number }> {
  const port = await freePort();
  const store = startNode(CLI, ['--port', String(port), '--data-dir', dataDir]);
  running.push(store);
  const [, uri] = await store.waitForOutput(/ready on (mongodb:\/\/\S+)/);
  return { store, uri, port };
}

async function kill(store: RunningProcess): Promise<void> {
  store.signal('SIGKILL');
  expect(await store.exited).toBe('SIGKILL');
}

interface Counter {
  _id: number;
  last: number;
  n: number;
}

interface LogEntry {
  _id: string;
  worker: number;
  step: number;
}

describe('embedded-mongo killed with SIGKILL', () => {
  afterEach(async () => {
    for (const store of running.splice(0)) {
      store.signal('SIGKILL');
      await store.exited;
    }
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'embedded-mongo-crash-'));
    dirs.push(dir);
    return dir;
  };

  it('keeps every acknowledged write of concurrent clients, and two collections written in one order stay consistent', async () => {
    const dataDir = await tempDir();
    const { store, uri } = await startStore(dataDir);
    const client = await MongoClient.connect(uri, { maxPoolSize: 16 });
    const db = client.db('shop');
    const WORKERS = 16;
    const KILL_AFTER = 1500;
    // Each step: a log entry, then the worker's counter; the next step starts only once both are acknowledged.
    const ackedLog = new Array<number>(WORKERS).fill(0);
    const ackedCounter = new Array<number>(WORKERS).fill(0);
    let acked = 0;
    let killed = false;
    const worker = async (w: number) => {
      for (let step = 1; step <= 10_000 && !killed; step++) {
        try {
          // Every fourth worker asks for j: true; the others use the default write concern.
          const writeConcern = w % 4 === 0 ? { j: true } : undefined;
          await db
            .collection<LogEntry>('log')
            .insertOne({ _id: `${w}:${step}`, worker: w, step }, { writeConcern });
          ackedLog[w] = step;
          await db
            .collection<Counter>('counters')
            .updateOne({ _id: w }, { $set: { last: step }, $inc: { n: 1 } }, { upsert: true, writeConcern });
          ackedCounter[w] = step;
        } catch {
          return; // the store is gone
        }
        if (++acked === KILL_AFTER) {
          killed = true;
          // Right after an acknowledgement, with the other workers' writes in flight.
          store.signal('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    expect(await store.exited).toBe('SIGKILL');
    await client.close(true);
    expect(acked).toBeGreaterThanOrEqual(KILL_AFTER);

    const restarted = await startStore(dataDir);
    const reader = await MongoClient.connect(restarted.uri);
    try {
      const rdb = reader.db('shop');
      const counters = await rdb.collection<Counter>('counters').find().toArray();
      const log = await rdb.collection<LogEntry>('log').find().toArray();
      for (let w = 0; w < WORKERS; w++) {
        const counter = counters.find((c) => c._id === w) ?? { last: 0, n: 0 };
        const steps = log
          .filter((e) => e.worker === w)
          .map((e) => e.step)
          .sort((a, b) => a - b);
        const lastLogged = steps.at(-1) ?? 0;
        // Every acknowledged write is there…
        expect(lastLogged, `worker ${w} log`).toBeGreaterThanOrEqual(ackedLog[w]);
        expect(counter.last, `worker ${w} counter`).toBeGreaterThanOrEqual(ackedCounter[w]);
        // …without holes, each $inc applied once, and the counter never ahead of the log nor more than one step behind.
        expect(steps).toEqual(Array.from({ length: lastLogged }, (_, i) => i + 1));
        expect(counter.n).toBe(counter.last);
        expect(
          lastLogged - counter.last,
          `worker ${w}: log ${lastLogged}, counter ${counter.last}`,
        ).toBeGreaterThanOrEqual(0);
        expect(lastLogged - counter.last).toBeLessThanOrEqual(1);
      }
    } finally {
      await reader.close();
    }
  });

  it('starts after a crash mid-append: the cut-off record is ignored with a log line, the acknowledged ones are there', async () => {
    const dataDir = await tempDir();
    const { store, uri } = await startStore(dataDir);
    const client = await MongoClient.connect(uri);
    for (let i = 0; i < 100; i++) await client.db('app').collection('events').insertOne({ i });
    await kill(store);
    await client.close(true);
    const journal =
      (await readdir(dataDir))
        .filter((f) => f.startsWith('journal.'))
        .sort()
        .at(-1) ?? '';
    expect((await stat(join(dataDir, journal))).size).toBeGreaterThan(0);
    // The first bytes of a record whose rest never reached the file.
    await appendFile(
      join(dataDir, journal),
      Buffer.from([0x00, 0x01, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x16]),
    );

    const restarted = await startStore(dataDir);
    expect(restarted.store.output()).toMatch(
      new RegExp(`ignored the last 9 bytes of \\S*${journal}: a record of 256 bytes cut off`),
    );
    const reader = await MongoClient.connect(restarted.uri);
    try {
      expect(await reader.db('app').collection('events').countDocuments()).toBe(100);
    } finally {
      await reader.close();
    }
  });

  it('refuses a second store on a data directory a live one holds, naming its pid; takes over the lock once it is killed', async () => {
    const dataDir = await tempDir();
    const first = await startStore(dataDir);

    const second = startNode(CLI, ['--port', String(await freePort()), '--data-dir', dataDir]);
    running.push(second);
    expect(await second.exited).toBe(1);
    expect(second.output()).toContain(
      `data directory ${dataDir} is in use by embedded-mongo (pid ${first.store.pid}, listening on 127.0.0.1:${first.port})`,
    );
    // The port too: the error names the process listening on it.
    const error = await EmbeddedMongoServer.start({ port: first.port }).catch((e: unknown) => e);
    expect((error as Error).message).toContain(
      `127.0.0.1:${first.port}: the address is already in use by pid ${first.store.pid} (`,
    );

    await kill(first.store);
    const third = await startStore(dataDir);
    expect(third.store.output()).toContain(
      `taking over the lock of pid ${first.store.pid}, which is no longer running`,
    );
  });
});
