import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import { isDuplicateKeyError } from '#lab/database';
import type { Document, UpdateFilter } from 'mongodb';
import type { MongoRepository } from 'typeorm';
import { ThrottleBucket } from './throttle-bucket.entity.js';

/** TypeORM types updates for any document, where `$push` and `$pull` accept no field. */
const update = (filter: UpdateFilter<ThrottleBucket>) => filter as UpdateFilter<Document>;

/** A bucket an attempt is counted in, and how many attempts it holds within the window. */
export interface ThrottleKey {
  readonly key: string;
  readonly limit: number;
}

/** Refused: every attempt the limit allows is spent (failed, or still being checked). */
export interface Throttled {
  readonly retryAfterSeconds: number;
}

/**
 * An attempt counted before its password or secret is checked. It stays counted as a failure unless
 * the caller says it {@link succeeded} or was {@link cancelled} (never checked).
 */
export class Reservation {
  constructor(
    private readonly throttle: LoginThrottle,
    readonly id: string,
    readonly keys: readonly ThrottleKey[],
  ) {}

  /**
   * The secret was right: the account's (or client's) failures are forgotten, the address keeps its
   * failures but not this attempt (one good password must not reset an attacker's count).
   */
  succeeded(): Promise<void> {
    const [subject, ...addresses] = this.keys;
    return this.throttle.settle(
      this.id,
      subject ? [subject.key] : [],
      addresses.map(({ key }) => key),
    );
  }

  /** The secret was not checked (the hashing queue was full): the attempt does not count. */
  cancelled(): Promise<void> {
    return this.throttle.settle(
      this.id,
      [],
      this.keys.map(({ key }) => key),
    );
  }

  /** The secret was wrong: the attempt stays counted until it leaves the window. */
  failed(now = new Date()): Promise<void> {
    return this.throttle.forgetExpired(now);
  }
}

/**
 * Brute-force protection for the token endpoint. Every attempt is counted BEFORE its secret is checked
 * (a reservation, pushed by a conditional update that never lets a bucket hold more than its limit), so
 * N parallel guesses get at most the limit checked and the rest 429 at once. Password grants count per
 * account (LOGIN_MAX_FAILURES) and per address (LOGIN_MAX_FAILURES_PER_ADDRESS), client_credentials per
 * client id and per address, unknown ids alike; an attempt leaves the count LOGIN_WINDOW_SECONDS after
 * it was made. Kept in the database, so every instance shares the counts; each update is atomic on one
 * document, in MongoDB as in the embedded store.
 */
@Injectable()
export class LoginThrottle {
  constructor(
    @InjectRepository(ThrottleBucket) private readonly buckets: MongoRepository<ThrottleBucket>,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** The buckets of a password grant: the account first (cleared by a success), then the address. */
  passwordKeys(email: string, ip: string): ThrottleKey[] {
    const { loginMaxFailures, loginMaxFailuresPerAddress } = this.config.oauth;
    return [
      { key: `account:${email}`, limit: loginMaxFailures },
      { key: `ip:${ip}`, limit: loginMaxFailuresPerAddress },
    ];
  }

  /**
   * The buckets of a client_credentials grant: the client id, then the address (its own bucket, so a
   * flood of made-up client ids does not also lock the users behind that address out).
   */
  clientKeys(clientId: string, ip: string): ThrottleKey[] {
    const { loginMaxFailures, loginMaxFailuresPerAddress } = this.config.oauth;
    return [
      { key: `client:${clientId}`, limit: loginMaxFailures },
      { key: `client-ip:${ip}`, limit: loginMaxFailuresPerAddress },
    ];
  }

  /** Counts an attempt in every bucket, or in none when one of them is full. */
  async reserve(keys: readonly ThrottleKey[], now = new Date()): Promise<Reservation | Throttled> {
    const id = randomUUID();
    const taken = await Promise.all(keys.map(({ key, limit }) => this.take(key, limit, id, now)));
    if (taken.every(Boolean)) return new Reservation(this, id, keys);
    await this.settle(
      id,
      [],
      keys.filter((_key, i) => taken[i]).map(({ key }) => key),
    );
    const waits = await Promise.all(
      keys.filter((_key, i) => !taken[i]).map(({ key, limit }) => this.secondsBlocked(key, limit, now)),
    );
    return { retryAfterSeconds: Math.max(...waits) };
  }

  /** @internal Used by {@link Reservation}: empties `cleared` buckets, takes attempt `id` out of `released` ones. */
  async settle(id: string, cleared: readonly string[], released: readonly string[]): Promise<void> {
    await Promise.all([
      ...cleared.map((key) => this.buckets.updateOne({ key }, { $set: { attempts: [] } })),
      ...released.map((key) => this.buckets.updateOne({ key }, update({ $pull: { attempts: { id } } }))),
    ]);
  }

  /** @internal MongoDB's TTL monitor does this within a minute; the embedded store has none. */
  async forgetExpired(now: Date): Promise<void> {
    await this.buckets.deleteMany({ expiresAt: { $lte: now } });
  }

  private async take(key: string, limit: number, id: string, now: Date): Promise<boolean> {
    const windowMs = this.config.oauth.loginWindowSeconds * 1000;
    try {
      // Creates the bucket, and drops the attempts that left the window.
      await this.buckets.updateOne(
        { key },
        update({ $pull: { attempts: { at: { $lte: new Date(now.getTime() - windowMs) } } } }),
        { upsert: true },
      );
    } catch (error) {
      // Another attempt created it at the same moment.
      if (!isDuplicateKeyError(error)) throw error;
    }
    // The atomic step: pushed only while the bucket holds fewer than `limit` attempts.
    const pushed = await this.buckets.updateOne(
      { key, [`attempts.${limit - 1}`]: { $exists: false } },
      update({
        $push: { attempts: { id, at: now } },
        $set: { expiresAt: new Date(now.getTime() + windowMs) },
      }),
    );
    return pushed.modifiedCount === 1;
  }

  /** Until enough of the oldest attempts leave the window for one more to fit. */
  private async secondsBlocked(key: string, limit: number, now: Date): Promise<number> {
    const bucket = await this.buckets.findOneBy({ key });
    const times = (bucket?.attempts ?? []).map(({ at }) => at.getTime()).sort((a, b) => a - b);
    const oldest = times[Math.max(0, times.length - limit)] ?? now.getTime();
    return Math.max(
      1,
      Math.ceil((oldest + this.config.oauth.loginWindowSeconds * 1000 - now.getTime()) / 1000),
    );
  }
}
