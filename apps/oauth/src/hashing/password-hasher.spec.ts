import { loadConfig } from '#lab/config';
import { register } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Metrics } from '#lab/telemetry';
import { PasswordHasher, PasswordHashingOverloaded } from './password-hasher.js';

const shedCount = async () =>
  (await register.getSingleMetric('password_hash_shed_total')?.get())?.values[0]?.value ?? 0;

describe(PasswordHasher.name, () => {
  const hasher = new PasswordHasher(new Metrics());
  const client = { client: '10.0.0.9' };

  it('verifies the password it hashed and rejects any other', async () => {
    const hash = await hasher.hash('correct horse battery staple', client);
    expect(await hasher.verify('correct horse battery staple', hash, client)).toBe(true);
    expect(await hasher.verify('correct horse battery stapl', hash, client)).toBe(false);
  });

  it("records OWASP's scrypt cost and a fresh 16-byte salt in every hash, and never the password", async () => {
    const [first, second] = await Promise.all([
      hasher.hash('same password', client),
      hasher.hash('same password', client),
    ]);
    const match = /^\$scrypt\$ln=14,r=8,p=5\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(first);
    expect(match).not.toBeNull();
    expect(Buffer.from(match?.[1] ?? '', 'base64')).toHaveLength(16);
    expect(Buffer.from(match?.[2] ?? '', 'base64')).toHaveLength(64);
    expect(first).not.toBe(second);
    expect(first).not.toContain('same password');
  });

  it('answers false for an account without a hash, after the same work as for a real one', async () => {
    await hasher.dummyHash();
    const real = await hasher.hash('a password', client);
    // The quickest of three interleaved rounds each: a stall of a loaded machine slows one round, not all.
    let known = Infinity;
    let unknown = Infinity;
    for (let round = 0; round < 3; round++) {
      const started = performance.now();
      await hasher.verify('a guess', real, client);
      known = Math.min(known, performance.now() - started);
      const unknownStarted = performance.now();
      expect(await hasher.verify('a guess', undefined, client)).toBe(false);
      unknown = Math.min(unknown, performance.now() - unknownStarted);
    }
    expect(unknown).toBeGreaterThan(known / 3);
  });

  it('still verifies a hash stored with the earlier cost (N=2^17, r=8, p=1)', async () => {
    const stored =
      '$scrypt$ln=17,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$dLuLwLYYIxV49gzysfRut7hlrJuw99TO71M72Z5lG4PH+6aaWiHt13paA1Z/jW8CrYnwMlgqCDo+5cpzM6fWmA';
    expect(await hasher.verify('old password', stored, client)).toBe(true);
    expect(await hasher.verify('old passwore', stored, client)).toBe(false);
  });

  it('rejects a malformed or implausibly expensive stored hash without trying it', async () => {
    expect(await hasher.verify('x', 'plain text', client)).toBe(false);
    expect(await hasher.verify('x', '$scrypt$ln=30,r=8,p=1$c2FsdA$aGFzaA', client)).toBe(false);
  });

  it('sheds a hash beyond its concurrency and queue with 503 overloaded and Retry-After, counted, and still finishes the others', async () => {
    const small = new PasswordHasher(
      new Metrics(),
      loadConfig('oauth', {
        PASSWORD_HASH_CONCURRENCY: '1',
        PASSWORD_HASH_QUEUE: '1',
        PASSWORD_HASH_MAX_WAIT_MS: '60000',
      }),
    );
    const before = await shedCount();
    const [running, waiting, shed] = await Promise.allSettled([
      small.hash('one', { client: '10.0.0.1' }),
      small.hash('two', { client: '10.0.0.2' }),
      small.verify('three', '$scrypt$ln=14,r=8,p=5$MDEyMzQ1Njc4OWFiY2RlZg$aGFzaA', {
        client: '10.0.0.3',
      }),
    ]);
    expect(running.status).toBe('fulfilled');
    expect(waiting.status).toBe('fulfilled');
    expect(shed.status).toBe('rejected');
    const error = (shed as PromiseRejectedResult).reason as unknown;
    expect(error).toBeInstanceOf(PasswordHashingOverloaded);
    expect(error).toMatchObject({ code: 'overloaded', status: 503 });
    expect((error as PasswordHashingOverloaded).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(await shedCount()).toBe(before + 1);
  });
  it("never sheds the service's own hashes (start-up seeding), however full the queue, while a client's hash is still shed", async () => {
    const busy = new PasswordHasher(
      new Metrics(),
      loadConfig('oauth', { PASSWORD_HASH_CONCURRENCY: '1', PASSWORD_HASH_QUEUE: '0' }),
    );
    const stored = await busy.hash('a seeded secret', 'service');
    const before = await shedCount();
    // A sign-up holds the only thread and the queue has no room: the seeding waits for its turn anyway.
    const running = busy.hash('a sign-up', { client: '10.0.0.1' });
    const seeded = busy.hash('a seeded secret', 'service');
    const checked = busy.verify('a seeded secret', stored, 'service');
    const shed = busy.verify('a guess', stored, { client: '10.0.0.2' }).catch((error: unknown) => error);
    expect(await shed).toBeInstanceOf(PasswordHashingOverloaded);
    const outcomes = await Promise.allSettled([running, seeded, checked]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    expect(await checked).toBe(true);
    expect(await busy.verify('a seeded secret', await seeded, 'service')).toBe(true);
    expect(await shedCount()).toBe(before + 1);
  });
});
