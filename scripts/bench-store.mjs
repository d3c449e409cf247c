// The embedded store on its own, as a service's driver uses it: the built store from dist on a free
// port with a temporary data directory (so the journal is on), the official `mongodb` driver with 16
// operations in flight, then one at a time. Two operations: findOne by `_id` and a conditional
// `updateOne({ _id, n: { $lt: X } }, { $inc: { n: 1 } })` (the shape of a stock reservation).
// Reports ops/s and the store's CPU time per operation (user + system from /proc, much less
// sensitive to the noise of a shared machine than the rate; the system part beside it), and the CPU
// time of this client process per operation (the driver: where the rest of the time goes).
//
//   node scripts/bench-store.mjs                       builds, then measures (BENCH_SECONDS, default 10)
//   node scripts/bench-store.mjs --cli A.js --cli B.js interleaved rounds of two builds of the store
//                                                      (copies of dist/libs/embedded-mongo)
//   STORE_PROFILE=/tmp/prof node scripts/bench-store.mjs  the store runs with --cpu-prof into that dir
//
// Then the floor: the same driver and loop against scripts/wire-floor.mjs, a server that answers from
// memory with no store behind it. Its ops/s is as fast as any store could be served to this client on
// this machine, and its client CPU per operation is what the driver costs on its own.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MongoClient, ObjectId } from 'mongodb';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const DEFAULT_CLI = join(root, 'dist/libs/embedded-mongo/src/cli.js');
const IN_FLIGHT = 16;
/** What each phase reports: ops/s, store CPU µs/op (of which system), client CPU µs/op. */
const FIGURES = ['ops', 'cpu', 'sys', 'client'];
const DOCUMENTS = 10_000;

/**
 * One store, seeded with DOCUMENTS documents; `rounds` rounds of the four phases (16 in flight and one
 * at a time, for each operation), each phase a quarter of `seconds`. Returns the median of the rounds
 * for each phase ({ ops: ops/s, cpu: store CPU µs per operation, sys: its system part, client: this
 * process's CPU µs per operation }) and the rounds themselves.
 */
export async function measureStore({ seconds = 10, rounds = 3, cli = DEFAULT_CLI } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-store-'));
  const store = await startServer(cli, ['--data-dir', dataDir], () =>
    rmSync(dataDir, { recursive: true, force: true }),
  );
  const client = new MongoClient(store.uri, { maxPoolSize: IN_FLIGHT });
  try {
    const items = client.db('bench').collection('items');
    const ids = await seed(items);
    const ops = {
      findOne: () => items.findOne({ _id: pick(ids) }),
      updateOne: () => items.updateOne({ _id: pick(ids), n: { $lt: 1_000_000_000 } }, { $inc: { n: 1 } }),
    };
    const phases = [
      ['findOne', IN_FLIGHT],
      ['updateOne', IN_FLIGHT],
      ['findOne', 1],
      ['updateOne', 1],
    ];
    // Warm-up: connections open and the store's code optimised before anything counts.
    for (const [op] of phases.slice(0, 2)) await drive(ops[op], IN_FLIGHT, 0.5, store.pid);
    const perRound = [];
    for (let round = 0; round < rounds; round++) {
      const result = {};
      for (const [op, inFlight] of phases)
        result[`${op}${inFlight === 1 ? 'Serial' : ''}`] = await drive(
          ops[op],
          inFlight,
          seconds / 4,
          store.pid,
        );
      perRound.push(result);
    }
    const median = (name, field) => middle(perRound.map((r) => r[name][field]));
    const figures = Object.fromEntries(
      Object.keys(perRound[0]).map((name) => [
        name,
        Object.fromEntries(FIGURES.map((field) => [field, median(name, field)])),
      ]),
    );
    return { ...figures, rounds: perRound };
  } finally {
    await client.close().catch(() => undefined);
    await store.stop();
  }
}

/**
 * Runs `op` with `inFlight` callers for `seconds`; ops/s, the store's CPU µs per operation (`cpu`, of
 * which `sys` in the kernel) and this client's (`client`: the driver, the same loop for both builds).
 */
async function drive(op, inFlight, seconds, pid) {
  const end = performance.now() + seconds * 1000;
  let count = 0;
  const cpuBefore = cpuMicros(pid);
  const clientBefore = process.cpuUsage();
  const begin = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        await op();
        count++;
      }
    }),
  );
  const elapsed = (performance.now() - begin) / 1000;
  const cpuAfter = cpuMicros(pid);
  const client = process.cpuUsage(clientBefore);
  return {
    ops: count / elapsed,
    cpu: (cpuAfter.total - cpuBefore.total) / count,
    sys: (cpuAfter.sys - cpuBefore.sys) / count,
    client: (client.user + client.system) / count,
    count,
  };
}

/**
 * The driver on its own: findOne and updateOne with 16 in flight against scripts/wire-floor.mjs (no
 * store: canned replies), `rounds` rounds of `seconds` / 2 each. Medians: ops/s, the floor server's CPU
 * µs per operation (`cpu`), this client's (`client`).
 */
export async function measureDriverFloor({ seconds = 10, rounds = 3 } = {}) {
  const server = await startServer(join(root, 'scripts/wire-floor.mjs'), []);
  const client = new MongoClient(server.uri, { maxPoolSize: IN_FLIGHT });
  try {
    const items = client.db('bench').collection('items');
    const ops = {
      findOne: () => items.findOne({ _id: new ObjectId() }),
      updateOne: () =>
        items.updateOne({ _id: new ObjectId(), n: { $lt: 1_000_000_000 } }, { $inc: { n: 1 } }),
    };
    for (const op of Object.values(ops)) await drive(op, IN_FLIGHT, 0.5, server.pid);
    const perRound = [];
    for (let round = 0; round < rounds; round++) {
      const result = {};
      for (const [name, op] of Object.entries(ops))
        result[name] = await drive(op, IN_FLIGHT, seconds / 2, server.pid);
      perRound.push(result);
    }
    const figures = Object.fromEntries(
      Object.keys(ops).map((name) => [
        name,
        Object.fromEntries(FIGURES.map((field) => [field, middle(perRound.map((r) => r[name][field]))])),
      ]),
    );
    return { ...figures, rounds: perRound };
  } finally {
    await client.close().catch(() => undefined);
    await server.stop();
  }
}

async function seed(items) {
  const ids = [];
  for (let start = 0; start < DOCUMENTS; start += 1000) {
    const docs = Array.from({ length: Math.min(1000, DOCUMENTS - start) }, (_, i) => ({
      _id: new ObjectId(),
      n: 0,
      name: `Item ${start + i}`,
      price: (start + i) % 100,
      tags: ['bench', `t${(start + i) % 7}`],
      updatedAt: new Date(),
    }));
    await items.insertMany(docs);
    ids.push(...docs.map((d) => d._id));
  }
  return ids;
}

const pick = (ids) => ids[Math.floor(Math.random() * ids.length)];

function middle(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[at] : (sorted[at - 1] + sorted[at]) / 2;
}

/** Starts `script --port N ...args` (the store's cli or the floor) and waits for its "ready on". */
async function startServer(script, args, cleanUp = () => undefined) {
  const port = await freePort();
  const profile = process.env.STORE_PROFILE;
  const child = spawn(
    process.execPath,
    [
      ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : []),
      script,
      '--port',
      String(port),
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start in 20 s`)), 20_000);
    child.stdout.on('data', (chunk) => {
      if (String(chunk).includes('ready on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`${script} exited ${code} before it was ready`)));
  });
  return {
    uri: `mongodb://127.0.0.1:${port}`,
    pid: child.pid,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      cleanUp();
    },
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** User + system (`total`) and system (`sys`) CPU time of a process, in µs (Linux /proc). */
function cpuMicros(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const micros = (ticks) => (Number(ticks) * 1_000_000) / 100;
  return { total: micros(fields[11]) + micros(fields[12]), sys: micros(fields[12]) };
}

/**
 * A whole number of at least 1 from the environment variable `name` (unset or empty: `fallback`); anything
 * else ends the process with a message naming it (exit 2) before anything is measured or written.
 */
export function countFromEnv(name, fallback) {
  const raw = process.env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (/^\d+$/.test(raw) && Number(raw) >= 1) return Number(raw);
  console.error(`${name}="${process.env[name]}" is not a whole number of at least 1 (default ${fallback})`);
  process.exit(2);
}

const STORE_USAGE = `usage: node scripts/bench-store.mjs [--cli A.js --cli B.js]
  builds, then measures the embedded store against the driver's floor; with --cli, interleaved rounds
  of those builds of the store. BENCH_SECONDS per phase (default 10), BENCH_ROUNDS with --cli (default 3)`;

const describe = (name, { ops, cpu, sys, client }, server = 'store') =>
  `${name.padEnd(18)} ${ops.toFixed(0).padStart(6)} ops/s  ${server} ${cpu.toFixed(0).padStart(4)} µs CPU/op (sys ${sys.toFixed(0).padStart(3)})  client ${client.toFixed(0).padStart(4)} µs CPU/op`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let values;
  try {
    ({ values } = parseArgs({
      options: { cli: { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (error) {
    console.error(`bench-store: ${error.message}\n${STORE_USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(STORE_USAGE);
    process.exit(0);
  }
  const seconds = countFromEnv('BENCH_SECONDS', 10);
  const rounds = countFromEnv('BENCH_ROUNDS', 3);
  const clis = values.cli ?? [DEFAULT_CLI];
  if (!values.cli) {
    const build = spawn(process.execPath, [join(root, 'scripts/build.mjs')], { stdio: 'inherit' });
    const code = await new Promise((resolve) => build.once('exit', resolve));
    if (code !== 0) process.exit(1);
  }
  // With several builds: one round of each in turn, the order flipped every round.
  const results = new Map(clis.map((cli) => [cli, []]));
  for (let round = 0; round < (clis.length > 1 ? rounds : 1); round++) {
    const order = round % 2 === 0 ? clis : [...clis].reverse();
    for (const cli of order) {
      const result = await measureStore({ seconds, rounds: clis.length > 1 ? 1 : rounds, cli });
      results.get(cli).push(result);
      console.log(`${clis.length > 1 ? `round ${round + 1} ` : ''}${cli}`);
      for (const name of ['findOne', 'updateOne', 'findOneSerial', 'updateOneSerial'])
        console.log(`  ${describe(name, result[name])}`);
    }
  }
  if (clis.length === 1) {
    const floor = await measureDriverFloor({ seconds, rounds });
    console.log('the driver alone, against scripts/wire-floor.mjs (answers from memory, no store)');
    for (const name of ['findOne', 'updateOne']) console.log(`  ${describe(name, floor[name], 'floor')}`);
  }
  if (clis.length > 1) {
    console.log('medians over rounds:');
    for (const [cli, list] of results) {
      console.log(cli);
      for (const name of ['findOne', 'updateOne', 'findOneSerial', 'updateOneSerial'])
        console.log(
          `  ${describe(name, Object.fromEntries(FIGURES.map((field) => [field, middle(list.map((r) => r[name][field]))])))}`,
        );
    }
  }
}
