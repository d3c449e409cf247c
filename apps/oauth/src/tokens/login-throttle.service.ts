import { Inject, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import type { MongoRepository } from 'typeorm';
import { LoginFailure } from './login-failure.entity.js';

export interface LoginAttempt {
  /** Lower-cased. */
  readonly email: string;
  readonly ip: string;
}

const keysOf = ({ email, ip }: LoginAttempt) => [`account:${email}`, `ip:${ip}`];

/**
 * Brute-force protection for the password grant: LOGIN_MAX_FAILURES failures for one account, or
 * LOGIN_MAX_FAILURES_PER_ADDRESS from one address, within LOGIN_WINDOW_SECONDS block further
 * attempts until the oldest of them leaves the window. Kept in the database so every instance sees the same counts.
 */
@Injectable()
export class LoginThrottle {
  constructor(
    @InjectRepository(LoginFailure) private readonly failures: MongoRepository<LoginFailure>,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Seconds to wait before the next attempt, or undefined when one may be made now. */
  async retryAfterSeconds(attempt: LoginAttempt, now = new Date()): Promise<number | undefined> {
    const waits = await Promise.all(keysOf(attempt).map((key) => this.secondsBlocked(key, now)));
    const longest = Math.max(...waits);
    return longest > 0 ? longest : undefined;
  }

  async recordFailure(attempt: LoginAttempt, now = new Date()): Promise<void> {
    const expiresAt = new Date(now.getTime() + this.config.oauth.loginWindowSeconds * 1000);
    await this.failures.save(keysOf(attempt).map((key) => this.failures.create({ key, at: now, expiresAt })));
    // MongoDB's TTL monitor does this within a minute; the embedded store has none.
    await this.failures.deleteMany({ expiresAt: { $lte: now } });
  }

  /** After a successful sign-in; the address's count stays (one good password must not reset an attacker). */
  async clearAccount(email: string): Promise<void> {
    await this.failures.deleteMany({ key: `account:${email}` });
  }

  private async secondsBlocked(key: string, now: Date): Promise<number> {
    const { loginMaxFailures, loginMaxFailuresPerAddress, loginWindowSeconds } = this.config.oauth;
    const maxFailures = key.startsWith('ip:') ? loginMaxFailuresPerAddress : loginMaxFailures;
    const windowMs = loginWindowSeconds * 1000;
    // Blocked keys get no new records, so this stays around the limit's number of documents.
    const recent = await this.failures.find({
      where: { key, at: { $gt: new Date(now.getTime() - windowMs) } },
      order: { at: 'ASC' },
    });
    if (recent.length < maxFailures) return 0;
    // Unblocked once enough of the oldest failures have left the window.
    const unblockedAt = recent[recent.length - maxFailures].at.getTime() + windowMs;
    return Math.max(1, Math.ceil((unblockedAt - now.getTime()) / 1000));
  }
}
