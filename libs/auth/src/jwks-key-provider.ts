import { KeyObject } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import type { Counter } from 'prom-client';
import { AuthMetrics } from './auth.metrics.js';
import { ACCESS_TOKEN_TYPE, SIGNING_ALGORITHM } from './access-token.js';
import { TokenRejected } from './token-rejected.js';

/** The key fetch's timeout: the JWKS is a small static document. */
export const JWKS_FETCH_TIMEOUT_MS = 2000;

/**
 * The longest a token with an unknown `kid` waits for the cooldown of the last fetch to end before the
 * refetch it asks for. A key rotated in just after a fetch is then accepted that much later instead of
 * refused until the cooldown has passed (found by `npm run scenario -- key-rotation`: a verifier that
 * had fetched 3 s before the rotation refused the new key's first token with 401). With a longer
 * cooldown than this the token is refused at once, as before.
 */
export const JWKS_UNKNOWN_KID_MAX_WAIT_MS = 5000;

type Header = ReturnType<typeof decodeProtectedHeader>;

/**
 * Finds the public key for a token in the oauth service's JWKS: fetched on first use, fetched again
 * once older than `JWKS_MAX_AGE_MS` or on an unknown `kid`, and never twice within `JWKS_COOLDOWN_MS`,
 * whether the last fetch succeeded or failed, so tokens with made-up key ids cost at most one fetch per
 * cooldown even while oauth is failing. When a fetch fails the keys already held stay in use (a
 * verifier keeps working through an oauth outage; a key removed from the JWKS meanwhile stays trusted
 * until a fetch succeeds). The header is checked first, so a token with another algorithm or type
 * never causes a fetch.
 */
@Injectable()
export class JwksKeyProvider {
  private readonly logger = new Logger('Jwks');
  private readonly url: URL;
  private readonly cooldownMs: number;
  private readonly maxAgeMs: number;
  private readonly fetches: Counter<'outcome'>;
  private keys?: ReturnType<typeof createLocalJWKSet>;
  /** The key ids of {@link keys}. */
  private kids = new Set<string>();
  private fetchedAt = 0;
  private lastAttemptAt?: number;
  private pending?: Promise<boolean>;
  private scheduled?: Promise<boolean>;

  constructor(@Inject(APP_CONFIG) config: AppConfig, metrics: AuthMetrics) {
    this.fetches = metrics.jwksFetches;
    this.url = new URL(`${config.urls.oauth}/.well-known/jwks.json`);
    this.cooldownMs = config.auth.jwksCooldownMs;
    this.maxAgeMs = config.auth.jwksMaxAgeMs;
  }

  async keyFor(token: string): Promise<KeyObject> {
    let header: Header;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new TokenRejected('malformed token');
    }
    if (header.alg !== SIGNING_ALGORITHM)
      throw new TokenRejected(`algorithm ${String(header.alg)} not accepted`);
    if (typeof header.typ !== 'string' || !/^(application\/)?at\+jwt$/i.test(header.typ)) {
      throw new TokenRejected(`token type must be ${ACCESS_TOKEN_TYPE}`);
    }
    if (typeof header.kid !== 'string') throw new TokenRejected('token has no key id');
    if (this.keys === undefined || Date.now() - this.fetchedAt >= this.maxAgeMs) await this.refresh();
    const known = await this.lookup(header);
    if (known) return known;
    // An unknown key id: perhaps a key rotated in since the last fetch (after the cooldown, if need be).
    if (await this.refresh(JWKS_UNKNOWN_KID_MAX_WAIT_MS)) {
      const rotated = await this.lookup(header);
      if (rotated) return rotated;
    }
    throw new TokenRejected(this.keys ? 'unknown signing key' : 'signing keys unavailable');
  }

  /**
   * Whether a token signed with `kid` would be verified against keys held now without a fetch: keys
   * fetched less than `JWKS_MAX_AGE_MS` ago hold it. A verified token stays trusted only while this
   * holds (see {@link VerifiedTokens}), so a key gone from the JWKS is refused as soon as before.
   */
  trusts(kid: string): boolean {
    return this.keys !== undefined && Date.now() - this.fetchedAt < this.maxAgeMs && this.kids.has(kid);
  }

  /** The key for the header among the keys held; undefined when there are none or none matches. */
  private async lookup(header: Header): Promise<KeyObject | undefined> {
    if (this.keys === undefined) return undefined;
    try {
      const key = await this.keys({ alg: header.alg, kid: header.kid });
      return key instanceof KeyObject ? key : KeyObject.from(key);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'ERR_JWKS_NO_MATCHING_KEY') return undefined;
      throw new TokenRejected(
        `signing key unusable: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  /**
   * Fetches the JWKS unless one was fetched (or tried) less than the cooldown ago; true when new keys
   * came. Within the cooldown, when it ends within `maxWaitMs`, the one fetch made at its end (shared by
   * every caller waiting for it) instead of none: never two fetches within the cooldown either way.
   */
  private refresh(maxWaitMs = 0): Promise<boolean> {
    if (this.pending) return this.pending;
    const now = Date.now();
    if (this.lastAttemptAt !== undefined && now - this.lastAttemptAt < this.cooldownMs) {
      this.fetches.inc({ outcome: 'cooldown' });
      const waitMs = this.lastAttemptAt + this.cooldownMs - now;
      if (waitMs > maxWaitMs) return Promise.resolve(false);
      this.scheduled ??= new Promise<void>((resolve) => setTimeout(resolve, waitMs + 1).unref()).then(() => {
        this.scheduled = undefined;
        return this.refresh();
      });
      return this.scheduled;
    }
    this.lastAttemptAt = now;
    this.pending = this.fetchKeys().finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async fetchKeys(): Promise<boolean> {
    try {
      const response = await fetch(this.url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(JWKS_FETCH_TIMEOUT_MS),
      });
      if (!response.ok) throw new Error(`answered ${response.status}`);
      const jwks = (await response.json()) as JSONWebKeySet;
      this.keys = createLocalJWKSet(jwks);
      this.kids = new Set(jwks.keys.flatMap((key) => (typeof key.kid === 'string' ? [key.kid] : [])));
      this.fetchedAt = Date.now();
      this.fetches.inc({ outcome: 'ok' });
      return true;
    } catch (error) {
      this.fetches.inc({ outcome: 'failed' });
      this.logger.warn({
        message: `fetching the signing keys from ${this.url.href} failed (${error instanceof Error ? error.message : String(error)}); ${this.keys ? 'the keys held stay in use' : 'tokens are refused'}, next try in ${this.cooldownMs} ms at the earliest`,
        'jwks.outcome': 'failed',
      });
      return false;
    }
  }
}
