import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
// @ts-expect-error -- newman ships no type declarations and @types/newman is not a dependency (typed below)
import newmanUntyped from 'newman';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Contract, type RunningLab, startLab } from '#lab/testing';

/** The part of Newman's Node API and run summary this spec uses. */
interface NewmanRunOptions {
  collection: string;
  environment: string;
  envVar: { key: string; value: string }[];
  reporters: string[];
  timeout: number;
  timeoutRequest: number;
}
interface NewmanSummary {
  run: {
    stats: Record<
      'requests' | 'assertions' | 'testScripts' | 'prerequestScripts',
      { total: number; failed: number }
    >;
    failures: {
      error: { name?: string; message: string; test?: string };
      source?: { name?: string };
      parent?: { name?: string };
    }[];
    executions: {
      item: { name: string };
      request: { method: string; url: { toString(): string } };
      response?: { code: number; headers: { get(name: string): string | undefined }; stream?: Buffer };
    }[];
    timings: { started: number; completed: number };
    error?: unknown;
  };
}
const newman = newmanUntyped as {
  run(options: NewmanRunOptions, done: (error: Error | null, summary: NewmanSummary) => void): unknown;
};

const COLLECTION = join(import.meta.dirname, '../postman/observability-lab.postman_collection.json');
const ENVIRONMENT = join(import.meta.dirname, '../postman/local.postman_environment.json');
/**
 * The brute-force test of the collection blocks password grants for its account until the failures
 * leave LOGIN_WINDOW_SECONDS (300 s by default): the lab runs here with a short window, and the second
 * run waits the Retry-After the first was given, as a user running it again would.
 */
const LOGIN_WINDOW_SECONDS = 15;
/**
 * The rate limit storm repeats one request until the gateway answers 429: a low limit keeps it short.
 * Both runs' anonymous requests (one client address) stay well under it.
 */
const RATE_LIMIT_REQUESTS = 100;

/** Runs the collection against `baseUrl` with no reporter; the summary says what happened. */
function runCollection(baseUrl: string): Promise<NewmanSummary> {
  return new Promise((resolve, reject) => {
    newman.run(
      {
        collection: COLLECTION,
        environment: ENVIRONMENT,
        envVar: [
          { key: 'baseUrl', value: baseUrl },
          { key: 'rateLimitRequests', value: String(RATE_LIMIT_REQUESTS) },
        ],
        reporters: [],
        timeout: 60_000,
        timeoutRequest: 10_000,
      },
      (error, summary) => (error ? reject(error) : resolve(summary)),
    );
  });
}

/** One line per failed assertion or script error: folder / request: test: message. */
function describeFailures(summary: NewmanSummary): string {
  return summary.run.failures
    .map(({ error, source, parent }) => {
      const where = [parent?.name, source?.name ?? '(collection)'].filter(Boolean).join(' / ');
      return `  ${where}: ${error.test ? `${error.test}: ` : ''}${error.message}`;
    })
    .join('\n');
}

/** The JSON body of the first answer to the request named `name`. */
function answerTo(summary: NewmanSummary, name: string): Record<string, unknown> {
  const response = summary.run.executions.find((execution) => execution.item.name === name)?.response;
  return JSON.parse(response?.stream?.toString() ?? 'null') as Record<string, unknown>;
}

/** Every answer the run got that the public OpenAPI document does not describe (operation, status, schema). */
function contractViolations(summary: NewmanSummary, contract: Contract): string[] {
  const violations: string[] = [];
  for (const { item, request, response } of summary.run.executions) {
    if (!response) continue;
    try {
      contract.assertMatches(
        request.method,
        request.url.toString(),
        response.code,
        response.headers.get('content-type') ?? null,
        response.stream?.toString() ?? '',
      );
    } catch (error) {
      violations.push(`${item.name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return violations;
}

/** Checks a run passed, printing every failure first so CI output shows them. */
function expectPassed(summary: NewmanSummary, label: string): void {
  const { stats } = summary.run;
  const seconds = ((summary.run.timings.completed - summary.run.timings.started) / 1000).toFixed(1);
  console.log(
    `${label}: ${stats.requests.total} requests, ${stats.assertions.total} assertions, ${summary.run.failures.length} failures in ${seconds} s`,
  );
  if (summary.run.failures.length > 0) console.error(`${label} failed:\n${describeFailures(summary)}`);
  expect(summary.run.error ?? undefined).toBeUndefined();
  expect(
    summary.run.failures.map(
      ({ error, source }) => `${source?.name}: ${error.test ?? error.name}: ${error.message}`,
    ),
  ).toEqual([]);
  expect(stats.assertions.failed).toBe(0);
  expect(stats.requests.failed).toBe(0);
  expect(stats.requests.total).toBeGreaterThanOrEqual(25);
  expect(stats.assertions.total).toBeGreaterThanOrEqual(60);
}

describe('the Postman collection under Newman, against the real lab', () => {
  let lab: RunningLab;
  let contract: Contract;

  beforeAll(async () => {
    lab = await startLab({
      LOGIN_WINDOW_SECONDS: String(LOGIN_WINDOW_SECONDS),
      RATE_LIMIT_REQUESTS: String(RATE_LIMIT_REQUESTS),
    });
    contract = await Contract.load(lab.urls.gateway);
  }, 60_000);

  afterAll(async () => {
    await lab?.stop();
  });

  it('passes, then passes again on the same data once the Retry-After it was given has passed', async () => {
    const first = await runCollection(lab.urls.gateway);
    const firstEnded = Date.now();
    expectPassed(first, 'first run');
    // Every answer it got is one the public OpenAPI document describes.
    expect(contractViolations(first, contract)).toEqual([]);
    expect(contract.checked.size).toBeGreaterThan(25);

    // The brute-force request was refused with 429; waiting what it said is enough for password grants again.
    const throttled = first.run.executions.find((execution) => execution.response?.code === 429);
    const retryAfter = Number(throttled?.response?.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(LOGIN_WINDOW_SECONDS);
    await sleep(Math.max(0, retryAfter * 1000 + 500 - (Date.now() - firstEnded)));

    const second = await runCollection(lab.urls.gateway);
    expectPassed(second, 'second run');
    // A new user, product and order each run, next to those of the first run.
    for (const request of [
      'Sign up',
      'Create a product (admin-cli, products:write)',
      'Place an order (Idempotency-Key) → 201',
    ]) {
      expect(answerTo(second, request).id).toMatch(/^[0-9a-f]{24}$/);
      expect(answerTo(second, request).id).not.toBe(answerTo(first, request).id);
    }
  }, 75_000);
});
