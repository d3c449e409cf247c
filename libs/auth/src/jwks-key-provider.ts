import { KeyObject } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import { createRemoteJWKSet, decodeProtectedHeader } from 'jose';
import { ACCESS_TOKEN_TYPE, SIGNING_ALGORITHM } from './scopes.js';

/** A token rejected before or during verification, with the reason reported in 401s (and metrics). */
export class TokenRejected extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'TokenRejected';
  }
}

/**
 * Finds the public key for a token in the oauth service's JWKS: cached, refetched on an unknown `kid`
 * (at most once per cooldown). The header is checked first, so a token with another algorithm or type
 * never causes a fetch.
 */
@Injectable()
export class JwksKeyProvider {
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.jwks = createRemoteJWKSet(new URL(`${config.urls.oauth}/.well-known/jwks.json`), {
      cooldownDuration: config.auth.jwksCooldownMs,
      cacheMaxAge: config.auth.jwksMaxAgeMs,
      timeoutDuration: 2000,
    });
  }

  async keyFor(token: string): Promise<KeyObject> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new TokenRejected('malformed token');
    }
    if (header.alg !== SIGNING_ALGORITHM) throw new TokenRejected(`algorithm ${String(header.alg)} not accepted`);
    if (typeof header.typ !== 'string' || !/^(application\/)?at\+jwt$/i.test(header.typ)) {
      throw new TokenRejected(`token type must be ${ACCESS_TOKEN_TYPE}`);
    }
    if (typeof header.kid !== 'string') throw new TokenRejected('token has no key id');
    try {
      const key = await this.jwks({ alg: header.alg, kid: header.kid });
      return key instanceof KeyObject ? key : KeyObject.from(key);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'ERR_JWKS_NO_MATCHING_KEY') throw new TokenRejected('unknown signing key');
      throw new TokenRejected(`signing keys unavailable: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
