// `npm run traffic`: load for the lab's scenarios (docs/scenarios.md). Signs a few users up through the
// gateway, then starts a weighted mix of tasks at a fixed rate (open loop) until the duration is over or
// Ctrl-C, printing a progress line every few seconds and a summary at the end. A CLI, not a service: run
// with the telemetry preload, each task is a root span `traffic.<task>` whose children are the
// gateway's and the other services' spans.
import { performance } from 'node:perf_hooks';
import { context } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { request } from 'undici';
import { processEnvironment } from '#lab/config';
import { failureName, LabApi } from './lab-api.js';
import { runOpenLoop } from './open-loop.js';
import { formatWeights, OptionsError, parseOptions, TASKS, type TrafficOptions, USAGE } from './options.js';
import { progressLine, Stats, summary } from './stats.js';
import { type User, Workload } from './workload.js';

const SIGNUP_CONCURRENCY = 2;
/** A second Ctrl-C this soon after the first is the same keypress relayed (npm forwards it). */
const SIGNAL_REPEAT_MS = 1000;

const say = (text: string) => process.stdout.write(`${text}\n`);
const fail = (text: string) => process.stderr.write(`traffic: ${text}\n`);

const options = ((): TrafficOptions => {
  try {
    const parsed = parseOptions(process.argv.slice(2), processEnvironment());
    if (parsed) return parsed;
    say(USAGE);
    process.exit(0);
  } catch (error) {
    if (!(error instanceof OptionsError)) throw error;
    fail(error.message);
    process.exit(2);
  }
})();

/** The whole run; resolves with the exit code. */
async function run(): Promise<number> {
  const { baseUrl } = options;
  const stats = new Stats();
  const stop = new AbortController();
  let firstSignalAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    const now = Date.now();
    if (!stop.signal.aborted) {
      firstSignalAt = now;
      say(`[traffic] ${signal}: stopping, waiting for the tasks in flight`);
      stop.abort();
    } else if (now - firstSignalAt > SIGNAL_REPEAT_MS) {
      fail(`${signal} again: exiting without waiting`);
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const mix = TASKS.filter((t) => options.weights[t] > 0);
  say(
    `[traffic] ${options.rate} tasks/s ${options.durationSeconds > 0 ? `for ${options.durationSeconds} s` : 'until Ctrl-C'}, ` +
      `${options.users} users, against ${baseUrl}; mix ${formatWeights(options.weights)} (${mix.join(', ')})`,
  );

  // The gateway must answer before anything else: a clear message beats a summary full of errors.
  // (Not traced: every trace of the generator starts with a task.)
  try {
    const ready = await context.with(suppressTracing(context.active()), () =>
      request(`${baseUrl}/health/ready`, { signal: AbortSignal.timeout(5000) }),
    );
    await ready.body.dump();
    if (ready.statusCode !== 200) {
      fail(
        `the gateway at ${baseUrl} is not ready: GET ${baseUrl}/health/ready answered ${ready.statusCode}`,
      );
      return 1;
    }
  } catch (error) {
    fail(
      `cannot reach the gateway at ${baseUrl} (${failureName(error)}${error instanceof Error && error.message ? `: ${error.message}` : ''}). ` +
        'Start the lab (npm start, or docker compose up -d) or point --base-url / TRAFFIC_BASE_URL at it.',
    );
    return 1;
  }

  const api = new LabApi(baseUrl, options.timeoutMs, stats);
  const workload = new Workload(api, stats, options.weights);
  const signupStarted = performance.now();

  // Users: a few at a time (each sign-up and token hashes a password in oauth, on purpose slowly).
  const users: User[] = [];
  const signupErrors: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(SIGNUP_CONCURRENCY, options.users) }, async () => {
      while (next < options.users && !stop.signal.aborted) {
        const index = ++next;
        try {
          users.push(await workload.signUp(index));
        } catch (error) {
          signupErrors.push(error instanceof Error ? error.message : String(error));
        }
      }
    }),
  );
  for (const message of [...new Set(signupErrors)].slice(0, 5)) fail(message);
  if (users.length === 0 && !stop.signal.aborted) {
    fail(`no user could be signed up through ${baseUrl}: nothing to run`);
    say(summary(stats, 0));
    await api.close();
    return 1;
  }
  if (users.length > 0) {
    const seconds = ((performance.now() - signupStarted) / 1000).toFixed(1);
    say(`[traffic] ${users.length} users signed up with tokens in ${seconds} s; running the mix`);
  }
  stats.phase = 'mix';
  const started = performance.now();

  let lastDone = 0;
  let lastAt = performance.now();
  const progress = setInterval(() => {
    const now = performance.now();
    const done = stats.allTasks.latency.count;
    say(progressLine(stats, now - started, ((done - lastDone) * 1000) / (now - lastAt), options.rate));
    lastDone = done;
    lastAt = now;
  }, options.progressSeconds * 1000);
  progress.unref();

  if (users.length > 0) {
    await runOpenLoop({
      rate: options.rate,
      durationMs: options.durationSeconds * 1000,
      maxInFlight: options.maxInFlight,
      signal: stop.signal,
      start: () => workload.run(workload.nextTask(), users[Math.floor(Math.random() * users.length)]),
      onSkip: () => stats.skipped++,
    });
  }
  clearInterval(progress);
  say(summary(stats, performance.now() - started));
  await api.close();
  return 0;
}

// No process.exit: the telemetry preload sends the buffered spans once nothing is left to do
// (beforeExit), then the process ends. Should something still hold the event loop, leave anyway.
process.exitCode = await run();
setTimeout(() => process.exit(), 5000).unref();
