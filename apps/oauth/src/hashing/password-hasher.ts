import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { APP_CONFIG, type AppConfig, PASSWORD_HASH_BOUND_MS } from '#lab/config';
import { LabError } from '#lab/errors';
import { Metrics } from '#lab/telemetry';
import type { Counter } from 'prom-client';
import { FairQueue, QueueFull } from './fair-queue.js';

interface ScryptParameters {
  /** log2 of the CPU/memory cost N */
  readonly ln: number;
  readonly r: number;
  readonly p: number;
}

/**
 * One of OWASP's equivalent scrypt configurations: N=2^14, r=8, p=5 (16 MiB per hash), a 64-byte key
 * and a 16-byte salt. N=2^17, p=1 (the first in OWASP's list, used before) held 128 MiB per hash in
 * progress, which took oauth from 140 to 264 MB RSS in the benchmark; hashes stored with it still verify.
 */
const CURRENT: ScryptParameters = { ln: 14, r: 8, p: 5 };
const KEY_LENGTH = 64;
const SALT_LENGTH = 16;
/** Refuses stored parameters that would take seconds or gigabytes (a tampered or foreign hash). */
const MAX_LN = 20;
const ENCODED = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

function derive(
  secret: string,
  salt: Buffer,
  keyLength: number,
  { ln, r, p }: ScryptParameters,
): Promise<Buffer> {
  const N = 2 ** ln;
  // scrypt needs 128·N·r bytes (16 MiB at the current cost), more than Node's 32 MiB default allows.
  const maxmem = 2 * 128 * N * r;
  return new Promise((resolve, reject) =>
    scrypt(secret.normalize('NFKC'), salt, keyLength, { N, r, p, maxmem }, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

const unpadded = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '');

/**
 * Who asks for a hash, said at every call. A client's request, by its address (`{ client: ip }`):
 * it gets a fair share of the queue and is shed with {@link PasswordHashingOverloaded} when the queue is
 * full or the hash would not be done in time. Or the service itself (`'service'`: the seeding of the
 * admin account and the OAuth clients at start-up, the dummy hash): it waits for a thread however long
 * a busy machine takes, and is never shed, because a lab that fails to start under load is worse than
 * a slow start. A real failure (scrypt's) still reaches every caller.
 */
export type HashCaller = { readonly client: string } | 'service';

/** The queue's key of the service's own hashes (one client among the others for the round-robin). */
const SERVICE_KEY = 'internal';

/** Log a summary of shed requests at most this often: a flood must not become a flood of log lines. */
const SHED_LOG_INTERVAL_MS = 5000;

/**
 * The password hashing queue is full: answered at once with 503 problem+json, `code: overloaded` and
 * `Retry-After`, instead of waiting longer than the gateway would.
 */
export class PasswordHashingOverloaded extends LabError {
  constructor(retryAfterSeconds: number) {
    super('overloaded', `too many passwords are being checked right now; retry in ${retryAfterSeconds} s`, {
      retryAfterSeconds,
    });
    this.name = 'PasswordHashingOverloaded';
  }
}

/**
 * scrypt hashes in the PHC string format (`$scrypt$ln=14,r=8,p=5$<salt>$<hash>`), so a later change
 * of cost still verifies the hashes stored before it. Runs on libuv's thread pool, never the event loop.
 */
@Injectable()
export class PasswordHasher {
  private readonly logger = new Logger(PasswordHasher.name);
  private dummy?: Promise<string>;
  private readonly queue: FairQueue;
  private shedSinceLog = 0;
  private lastShedLog = 0;
  private readonly shed: Counter;

  constructor(metrics: Metrics, @Optional() @Inject(APP_CONFIG) config?: AppConfig) {
    this.shed = metrics.counter({
      name: 'password_hash_shed_total',
      help: 'Sign-ins and sign-ups refused with 503: the password hashing queue was full, or a hash waited or took too long.',
    });
    const depth = metrics.gauge({
      name: 'password_hash_queue_depth',
      help: 'Password hashes waiting for a thread (not yet running).',
    });
    const maxWaitMs = config?.oauth.passwordHashMaxWaitMs ?? 2000;
    this.queue = new FairQueue(
      config?.oauth.passwordHashConcurrency ?? 2,
      config?.oauth.passwordHashQueue ?? 16,
      {
        maxWaitMs,
        // The wait and the hash: past it, 503 before the gateway's timeout (hashingTimeoutMs there).
        maxTotalMs: maxWaitMs + PASSWORD_HASH_BOUND_MS,
        onDepthChange: (queued) => depth.set(queued),
      },
    );
  }

  /**
   * A new hash of `secret`; for a client ({@link HashCaller}) throws {@link PasswordHashingOverloaded}
   * when the queue is full or the hash is not done in time.
   */
  hash(secret: string, caller: HashCaller): Promise<string> {
    return this.queued(caller, async () => {
      const salt = randomBytes(SALT_LENGTH);
      const derived = await derive(secret, salt, KEY_LENGTH, CURRENT);
      return `$scrypt$ln=${CURRENT.ln},r=${CURRENT.r},p=${CURRENT.p}$${unpadded(salt)}$${unpadded(derived)}`;
    });
  }

  /**
   * Whether `secret` matches `encoded`. Without a stored hash (an unknown account) it still spends one
   * full derivation against a dummy hash and answers false, so the time taken does not tell which
   * accounts exist. Shed like {@link hash} for a client.
   */
  async verify(secret: string, encoded: string | undefined, caller: HashCaller): Promise<boolean> {
    if (encoded === undefined) {
      await this.verify(secret, await this.dummyHash(), caller);
      return false;
    }
    const match = ENCODED.exec(encoded);
    if (!match) return false;
    const parameters = { ln: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
    if (parameters.ln < 1 || parameters.ln > MAX_LN || parameters.r < 1 || parameters.p < 1) return false;
    const expected = Buffer.from(match[5], 'base64');
    const actual = await this.queued(caller, () =>
      derive(secret, Buffer.from(match[4], 'base64'), expected.length, parameters),
    );
    return timingSafeEqual(actual, expected);
  }

  /**
   * Computed once, at start-up (the service's own hash, never shed), ahead of the first unknown account,
   * so that attempt takes no longer than the others.
   */
  dummyHash(): Promise<string> {
    this.dummy ??= this.hash(randomBytes(16).toString('hex'), 'service').catch((error: unknown) => {
      this.dummy = undefined;
      throw error;
    });
    return this.dummy;
  }

  private async queued<T>(caller: HashCaller, work: () => Promise<T>): Promise<T> {
    if (caller === 'service') return this.queue.run(SERVICE_KEY, work, { unbounded: true });
    try {
      return await this.queue.run(caller.client, work);
    } catch (error) {
      if (!(error instanceof QueueFull)) throw error;
      this.shed.inc();
      this.logShed();
      // Roughly when the queue has room again: what waits, divided among the threads, at ~0.25 s a hash.
      throw new PasswordHashingOverloaded(
        Math.max(1, Math.ceil((this.queue.depth * 0.25) / this.queue.concurrency)),
      );
    }
  }

  private logShed(): void {
    this.shedSinceLog++;
    const now = Date.now();
    if (now - this.lastShedLog < SHED_LOG_INTERVAL_MS) return;
    this.logger.warn(
      `password hashing queue full (${this.queue.depth} waiting, ${this.queue.concurrency} running): shed ${this.shedSinceLog} request(s) with 503 overloaded since the last report`,
    );
    this.lastShedLog = now;
    this.shedSinceLog = 0;
  }
}
