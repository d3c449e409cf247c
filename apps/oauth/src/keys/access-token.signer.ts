import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { ACCESS_TOKEN_TYPE, SIGNING_ALGORITHM } from '#lab/auth';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import { SignJWT } from 'jose';
import { KeysService } from './keys.service.js';

export interface AccessTokenSubject {
  /** The user id, or the client id for a service token. */
  readonly subject: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  /** Shorter than ACCESS_TOKEN_TTL_SECONDS if given; never longer (retired keys are published only that long). */
  readonly ttlSeconds?: number;
}

export interface SignedAccessToken {
  readonly token: string;
  readonly expiresIn: number;
  readonly tokenId: string;
  readonly kid: string;
}

/** RFC 9068 access tokens: RS256, `typ: at+jwt`, signed with the active key. */
@Injectable()
export class AccessTokenSigner {
  constructor(
    private readonly keys: KeysService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async sign({ subject, clientId, scopes, ttlSeconds }: AccessTokenSubject): Promise<SignedAccessToken> {
    const key = await this.keys.signingKey();
    const lifetime = Math.min(
      ttlSeconds ?? Number.POSITIVE_INFINITY,
      this.config.oauth.accessTokenTtlSeconds,
    );
    const now = Math.floor(Date.now() / 1000);
    const tokenId = randomUUID();
    const token = await new SignJWT({ client_id: clientId, scope: scopes.join(' ') })
      .setProtectedHeader({ alg: SIGNING_ALGORITHM, typ: ACCESS_TOKEN_TYPE, kid: key.kid })
      .setIssuer(this.config.auth.issuer)
      .setAudience(this.config.auth.audience)
      .setSubject(subject)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + lifetime)
      .setJti(tokenId)
      .sign(key.privateKey);
    return { token, expiresIn: lifetime, tokenId, kid: key.kid };
  }
}
