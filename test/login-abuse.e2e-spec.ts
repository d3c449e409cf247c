import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningLab, startLab } from '#lab/testing';

// Logins as an attacker runs them, through the real gateway of a whole lab: parallel guesses, a flood
// of made-up client ids, a burst of sign-ups. Each time the attack is contained (429 or a fast 503 with
// Retry-After, never a gateway timeout) and an ordinary user still signs in, with the gateway's breaker
// to oauth closed.

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

const ADMIN = 'admin@lab.local';
const COMPOSE_PASSWORD_LIMIT = 5;

/** The value of one series of a Prometheus text page (0 when absent). */
function series(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = match[2] ?? '';
    if (Object.entries(labels).every(([label, value]) => present.includes(`${label}="${value}"`)))
      return Number(match[3]);
  }
  return 0;
}

/** A request from another loopback address (127.0.0.2): to oauth, a client other than everyone on 127.0.0.1. */
function postFrom(
  localAddress: string,
  url: string,
  form: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const body = new URLSearchParams(form).toString();
    const request = httpRequest(
      url,
      {
        method: 'POST',
        localAddress,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(body),
        },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

describe('login abuse through the gateway (a whole lab)', () => {
  let lab: RunningLab;
  let api: string;
  const bystander = {
    email: `bystander-${randomUUID().slice(0, 8)}@example.com`,
    password: `pw-${randomUUID()}`,
  };

  const call = async (
    path: string,
    init: { form?: Record<string, string>; json?: unknown },
    base = () => api,
  ): Promise<Answer> => {
    const response = await fetch(`${base()}${path}`, {
      method: 'POST',
      headers: { 'content-type': init.form ? 'application/x-www-form-urlencoded' : 'application/json' },
      body: init.form ? new URLSearchParams(init.form).toString() : JSON.stringify(init.json),
    });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  };
  const token = (form: Record<string, string>) => call('/api/oauth/token', { form });
  const signIn = (username: string, password: string) =>
    token({ grant_type: 'password', username, password });
  const metrics = async (service: 'gateway' | 'oauth') =>
    (await fetch(`${lab.urls[service]}/metrics`)).text();
  const breakerToOauth = async () => {
    const text = await metrics('gateway');
    return (['closed', 'open', 'half_open'] as const).find(
      (state) => series(text, 'circuit_breaker_state', { upstream: 'oauth', state }) === 1,
    );
  };
  const statusCounts = (answers: Answer[]) =>
    answers.reduce<Record<number, number>>(
      (counts, { status }) => ({ ...counts, [status]: (counts[status] ?? 0) + 1 }),
      {},
    );

  beforeAll(async () => {
    lab = await startLab({ LOGIN_MAX_FAILURES: String(COMPOSE_PASSWORD_LIMIT) });
    api = lab.urls.gateway;
    const signedUp = await call('/api/users', { json: { ...bystander, name: 'Bystander' } });
    expect(signedUp.status).toBe(201);
  }, 90_000);

  afterAll(async () => {
    await lab?.stop();
  });

  it('checks at most the limit of 40 parallel wrong passwords for the admin and refuses the rest with 429 and Retry-After, never a timeout; another user still signs in and the breaker to oauth stays closed', async () => {
    const before = await metrics('oauth');
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => signIn(ADMIN, `wrong-${i}`)));
    const after = await metrics('oauth');

    // The limit's worth get through the throttle and are checked. On a machine so slow that one of them
    // waits too long for a hashing thread, that one is shed (503 overloaded) instead: not checked, not
    // counted, so a guess arriving after it may take its place.
    const counts = statusCounts(answers);
    expect(Object.keys(counts).filter((status) => !['400', '429', '503'].includes(status))).toEqual([]);
    expect(counts[400]).toBeLessThanOrEqual(COMPOSE_PASSWORD_LIMIT);
    if (counts[503] === undefined)
      expect(counts).toEqual({ 400: COMPOSE_PASSWORD_LIMIT, 429: 40 - COMPOSE_PASSWORD_LIMIT });
    for (const shed of answers.filter(({ status }) => status === 503))
      expect(shed.body).toMatchObject({ code: 'overloaded' });
    const checked =
      series(after, 'auth_failures_total', { reason: 'invalid_grant' }) -
      series(before, 'auth_failures_total', { reason: 'invalid_grant' });
    expect(checked).toBe(counts[400]);
    expect(checked).toBeGreaterThan(0);
    expect(
      series(after, 'auth_failures_total', { reason: 'throttled' }) -
        series(before, 'auth_failures_total', { reason: 'throttled' }),
    ).toBe(counts[429]);
    for (const refused of answers.filter(({ status }) => status === 429)) {
      expect(refused.body).toMatchObject({ error: 'invalid_grant' });
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    }

    expect((await signIn(bystander.email, bystander.password)).status).toBe(200);
    expect(await breakerToOauth()).toBe('closed');
    // The admin's correct password is refused too until the window has passed: that is the lockout. It
    // takes the limit's worth of checked failures; a guess shed (503) counts for nothing, so where some
    // were shed and fewer were checked, the account is not locked and the right password signs in.
    const locked = counts[400] === COMPOSE_PASSWORD_LIMIT;
    expect((await signIn(ADMIN, 'admin-password')).status).toBe(locked ? 429 : 200);
  }, 60_000);

  it('refuses a flood of made-up client ids with 429 once the address has spent its budget, without a hash each; users still sign in', async () => {
    const before = await metrics('oauth');
    const answers: Answer[] = [];
    // In small waves, until the address is refused (50 failures by default); an attempt the hashing
    // queue sheds (503) is not counted, so it takes as many waves as the machine needs.
    for (let wave = 0; wave < 60 && !answers.some(({ status }) => status === 429); wave++) {
      answers.push(
        ...(await Promise.all(
          Array.from({ length: 4 }, () =>
            token({
              grant_type: 'client_credentials',
              client_id: `made-up-${randomUUID()}`,
              client_secret: 'guess-guess-guess',
            }),
          ),
        )),
      );
    }
    const refused = await Promise.all(
      Array.from({ length: 20 }, () =>
        token({
          grant_type: 'client_credentials',
          client_id: `made-up-${randomUUID()}`,
          client_secret: 'guess-guess-guess',
        }),
      ),
    );
    const after = await metrics('oauth');

    const counts = statusCounts(answers);
    expect(Object.keys(counts).filter((status) => !['401', '429', '503'].includes(status))).toEqual([]);
    expect(counts[401]).toBe(50);
    for (const shed of answers.filter(({ status }) => status === 503))
      expect(shed.body).toMatchObject({ code: 'overloaded' });
    expect(statusCounts(refused)).toEqual({ 429: 20 });
    expect(refused[0].body).toMatchObject({ error: 'invalid_client' });
    expect(Number(refused[0].headers.get('retry-after'))).toBeGreaterThan(0);
    // Only the attempts within the address's budget were checked (each against a dummy hash).
    const checked =
      series(after, 'auth_failures_total', { reason: 'invalid_client' }) -
      series(before, 'auth_failures_total', { reason: 'invalid_client' });
    expect(checked).toBe(50);

    expect((await signIn(bystander.email, bystander.password)).status).toBe(200);
    expect(await breakerToOauth()).toBe('closed');
  }, 180_000);

  it('sheds a burst of sign-ups beyond the hashing queue with a fast 503 overloaded and Retry-After, counted; the breaker to oauth stays closed', async () => {
    const before = await metrics('oauth');
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        call('/api/users', {
          json: {
            email: `burst-${i}-${randomUUID().slice(0, 8)}@example.com`,
            password: 'burst-password',
            name: 'Burst',
          },
        }),
      ),
    );
    const after = await metrics('oauth');

    const counts = statusCounts(answers);
    expect(Object.keys(counts).sort()).toEqual(['201', '503']);
    const shed = answers.filter(({ status }) => status === 503);
    for (const answer of shed) {
      expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(answer.body).toMatchObject({ status: 503, code: 'overloaded' });
      expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    expect(series(after, 'password_hash_shed_total') - series(before, 'password_hash_shed_total')).toBe(
      shed.length,
    );
    expect(await breakerToOauth()).toBe('closed');
    expect((await signIn(bystander.email, bystander.password)).status).toBe(200);
  }, 60_000);

  it('keeps room in the hashing queue for another address while one address floods it (directly at oauth: behind the gateway every client here is 127.0.0.1)', async () => {
    const oauth = lab.urls.oauth;
    const flood = Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        call(
          '/users',
          {
            json: {
              email: `flood-${i}-${randomUUID().slice(0, 8)}@example.com`,
              password: 'flood-password',
              name: 'Flood',
            },
          },
          () => oauth,
        ),
      ),
    );
    // Once the flood fills its share of the queue, someone else signs in from 127.0.0.2.
    for (
      let poll = 0;
      poll < 200 && series(await metrics('oauth'), 'password_hash_queue_depth') === 0;
      poll++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const other = await postFrom('127.0.0.2', `${oauth}/oauth/token`, {
      grant_type: 'password',
      username: bystander.email,
      password: bystander.password,
    });
    const flooded = await flood;
    expect(flooded.some(({ status }) => status === 503)).toBe(true);
    expect(other.status).toBe(200);
  }, 60_000);
});
