import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import type { UpdateResult } from 'mongodb';
import type { MongoRepository } from 'typeorm';
import { RefreshToken } from './refresh-token.entity.js';

/** What a refresh token grants: carried unchanged from one token of a family to the next. */
export interface RefreshGrant {
  readonly userId: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  readonly familyId: string;
}

export class InvalidRefreshToken extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'InvalidRefreshToken';
  }
}

const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

/** Rotating refresh tokens with reuse detection (OAuth 2.0 Security BCP §4.14). */
@Injectable()
export class RefreshTokensService {
  private readonly logger = new Logger(RefreshTokensService.name);

  constructor(
    @InjectRepository(RefreshToken) private readonly tokens: MongoRepository<RefreshToken>,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** A new token, in a new family unless `familyId` is given; answers the token itself, which is not stored. */
  async issue(
    grant: Omit<RefreshGrant, 'familyId'> & { familyId?: string },
    now = new Date(),
  ): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await this.tokens.save(
      this.tokens.create({
        tokenHash: hashOf(token),
        familyId: grant.familyId ?? randomUUID(),
        userId: grant.userId,
        clientId: grant.clientId,
        scopes: [...grant.scopes],
        createdAt: now,
        expiresAt: new Date(now.getTime() + this.config.oauth.refreshTokenTtlSeconds * 1000),
        usedAt: null,
        revokedAt: null,
      }),
    );
    return token;
  }

  /**
   * Spends a token, at most once even under concurrency (a conditional update on `usedAt: null`).
   * A used or revoked token means a copy leaked (the thief's or the owner's is the older one), so its
   * whole family is revoked.
   */
  async consume(token: string, now = new Date()): Promise<RefreshGrant> {
    const stored = await this.tokens.findOneBy({ tokenHash: hashOf(token) });
    if (!stored) throw new InvalidRefreshToken('unknown refresh token');
    if (stored.usedAt || stored.revokedAt) return this.reused(stored, now);
    if (stored.expiresAt.getTime() <= now.getTime()) throw new InvalidRefreshToken('refresh token expired');
    const marked = (await this.tokens.updateOne(
      { _id: stored._id, usedAt: null, revokedAt: null },
      { $set: { usedAt: now } },
    )) as UpdateResult;
    if (marked.modifiedCount !== 1) return this.reused(stored, now);
    return {
      userId: stored.userId,
      clientId: stored.clientId,
      scopes: stored.scopes,
      familyId: stored.familyId,
    };
  }

  /** The successor of a consumed token, unless its family was revoked meanwhile. */
  async rotate(grant: RefreshGrant, now = new Date()): Promise<string> {
    const token = await this.issue(grant, now);
    // A concurrent reuse revokes the family with one update; a token inserted after that update
    // would escape it, so look again now that this one is in.
    if ((await this.tokens.countBy({ familyId: grant.familyId, revokedAt: { $ne: null } })) > 0) {
      await this.revokeFamily(grant.familyId, now);
      throw new InvalidRefreshToken('refresh token revoked');
    }
    return token;
  }

  async revokeFamily(familyId: string, now = new Date()): Promise<void> {
    await this.tokens.updateMany({ familyId, revokedAt: null }, { $set: { revokedAt: now } });
  }

  private async reused(stored: RefreshToken, now: Date): Promise<never> {
    await this.revokeFamily(stored.familyId, now);
    this.logger.warn(`refresh token reuse for user ${stored.userId}: family ${stored.familyId} revoked`);
    throw new InvalidRefreshToken(
      'refresh token already used or revoked; every token of its family is now revoked',
    );
  }
}
