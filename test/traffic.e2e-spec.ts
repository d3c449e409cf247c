import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freePort,
  type OtlpReceiver,
  repoRoot,
  type RunningLab,
  SERVICES,
  startLab,
  startOtlpReceiver,
} from '#lab/testing';

interface TrafficRun {
  readonly pid: number;
  output(): string;
  readonly exited: Promise<number | string>;
  /** Like Ctrl-C in a terminal: the whole process group (npm and the generator). */
  interrupt(): void;
  waitFor(pattern: RegExp, timeoutMs: number): Promise<void>;
}

/**
 * `npm run traffic -- <args>`, as a user runs it (npm and scripts on this Node 22); with `direct`, the
 * generator alone, started by the same command line as the npm script (after its build step), so that
 * a signal reaches it and nothing else (npm's shell exits by the signal it relayed).
 */
function traffic(args: string[], env: Record<string, string> = {}, direct = false): TrafficRun {
  const script = (
    JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  ).scripts.traffic;
  const command = script.split('&&').at(-1)?.trim().split(/\s+/) ?? [];
  expect(command[0]).toBe('node');
  const [file, ...argv] = direct
    ? [process.execPath, ...command.slice(1), ...args]
    : ['npm', 'run', '--silent', 'traffic', '--', ...args];
  const child = spawn(file, argv, {
    cwd: repoRoot,
    env: {
      ...process.env,
      PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
      NO_COLOR: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  return {
    pid: child.pid ?? -1,
    output: () => text,
    exited,
    interrupt: () => process.kill(-(child.pid ?? 0), 'SIGINT'),
    async waitFor(pattern, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(text)) {
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`no ${pattern} in the output:\n${text}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
  };
}

/** One row of the summary's latency table: count, p50, p95, p99, max, errors. */
function latencyRow(output: string, name: string) {
  const match = new RegExp(
    `^\\s+${name}\\s+(\\d+)\\s+([\\d.]+)\\s+([\\d.]+)\\s+([\\d.]+)\\s+([\\d.]+)\\s+(\\d+)$`,
    'm',
  ).exec(output);
  if (!match) throw new Error(`no "${name}" row in:\n${output}`);
  const [count, p50, p95, p99, max, errors] = match.slice(1).map(Number);
  return { count, p50, p95, p99, max, errors };
}

describe('npm run traffic', () => {
  let lab: RunningLab;
  let otlp: OtlpReceiver;
  let main: TrafficRun;
  const traced = { OTEL_SERVICE_NAME: 'traffic', OTEL_BSP_SCHEDULE_DELAY: '200' };

  beforeAll(async () => {
    otlp = await startOtlpReceiver();
    const otel = {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    };
    // A generous upstream timeout: errors must come from the lab, not from a busy test machine.
    lab = await startLab({ ...otel, OTEL_BSP_SCHEDULE_DELAY: '200', UPSTREAM_TIMEOUT_MS: '20000' });
    // The 30-second run goes on while the shorter cases below run.
    main = traffic(['--base-url', lab.urls.gateway, '--rate', '10', '--duration', '30', '--users', '3'], {
      ...otel,
      ...traced,
    });
  }, 90_000);

  afterAll(async () => {
    if (main && (await Promise.race([main.exited, Promise.resolve('running')])) === 'running')
      main.interrupt();
    await lab?.stop();
    await otlp?.stop();
  });

  it('exits non-zero with a message naming the URL when the gateway cannot be reached', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const run = traffic(['--base-url', url, '--duration', '5']);
    expect(await run.exited).not.toBe(0);
    expect(run.output()).toContain(`cannot reach the gateway at ${url}`);
    expect(run.output()).not.toContain('summary');
  });

  it('stops on Ctrl-C and still prints the summary', async () => {
    const run = traffic(
      ['--base-url', lab.urls.gateway, '--rate', '5', '--users', '1', '--duration', '0'],
      {},
      true,
    );
    await run.waitFor(/running the mix/, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    run.interrupt();
    expect(await run.exited).toBe(0);
    expect(run.output()).toMatch(/SIGINT: stopping/);
    expect(run.output()).toMatch(/traffic summary after/);
    expect(latencyRow(run.output(), 'all tasks').count).toBeGreaterThan(0);
  }, 30_000);

  it('runs the mix for 30 s at 10 tasks/s without errors, one root trace per task across every service', async () => {
    expect(await main.exited, main.output()).toBe(0);
    const output = main.output();
    console.info(output.slice(output.indexOf('traffic summary')));
    expect(output).toMatch(/^\[traffic\s+\d+ s\] tasks \d+/m); // progress lines
    const requests =
      /requests\s+(\d+) \([\d.]+\/s\): ok (\d+), expected (\d+), rate-limited (\d+), errors (\d+)/.exec(
        output,
      );
    expect(requests, output).not.toBeNull();
    const [total, , , , errors] = (requests ?? []).slice(1).map(Number);
    expect(errors, output).toBe(0);
    const all = latencyRow(output, 'all tasks');
    expect(all.count).toBeGreaterThanOrEqual(270); // 300 due; none skipped
    expect(output).toMatch(/tasks\s+\d+ done \([\d.]+\/s\), 0 skipped/);
    expect(all.p50).toBeLessThanOrEqual(all.p95);
    expect(all.p95).toBeLessThanOrEqual(all.p99);
    for (const task of ['signup', 'browse', 'view', 'order', 'cancel', 'profile'])
      latencyRow(output, `task ${task}`);

    // Every task is a trace of its own: a root span of service traffic, the services' spans below it.
    const rootNames = ['signup', 'browse', 'view', 'order', 'cancel', 'profile'].map((t) => `traffic.${t}`);
    const spans = await otlp.waitFor((received) => {
      const roots = new Set(
        received.filter((s) => s.serviceName === 'traffic' && !s.parentSpanId).map((s) => s.traceId),
      );
      return SERVICES.every((service) =>
        received.some((s) => s.serviceName === service && roots.has(s.traceId)),
      );
    }, 15_000);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the last batches
    const roots = spans.filter((s) => s.serviceName === 'traffic' && !s.parentSpanId);
    expect(new Set(roots.map((s) => s.name))).toEqual(new Set(rootNames));
    expect(roots.length).toBeGreaterThanOrEqual(all.count);
    const rootTraces = new Set(roots.map((s) => s.traceId));
    const perService = Object.fromEntries(
      ['traffic', ...SERVICES].map((service) => [
        service,
        spans.filter((s) => s.serviceName === service && rootTraces.has(s.traceId)).length,
      ]),
    );
    console.info(
      `traffic e2e: ${total} requests, p99 ${all.p99} ms (all tasks); spans in traffic's traces: ${JSON.stringify(perService)}`,
    );
    for (const service of SERVICES) expect(perService[service], service).toBeGreaterThan(0);
    // The gateway's server span hangs off the generator's client span (traceparent propagated).
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const gatewayServers = spans.filter(
      (s) => s.serviceName === 'gateway' && s.kind === 'SERVER' && rootTraces.has(s.traceId),
    );
    expect(gatewayServers.length).toBeGreaterThan(0);
    for (const server of gatewayServers) {
      const parent = byId.get(server.parentSpanId ?? '');
      expect(parent?.serviceName).toBe('traffic');
      expect(parent?.kind).toBe('CLIENT');
    }
  }, 60_000);
});
