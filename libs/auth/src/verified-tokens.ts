import { Injectable } from '@nestjs/common';
import { CLOCK_TOLERANCE_SECONDS } from './access-token.js';
import { JwksKeyProvider } from './jwks-key-provider.js';
import type { Principal } from './principal.js';

/** At most this many tokens are remembered (about 1 KB each); the one used longest ago goes first. */
export const VERIFIED_TOKENS_MAX = 1000;

interface Verified {
  readonly principal: Principal;
  /** The key id the token was verified with. */
  readonly kid: string;
  /** `exp` + the clock tolerance, in seconds since the epoch: from then on it verifies no more. */
  readonly until: number;
}

/**
 * Access tokens this process verified, by their exact string, with the principal they speak for: the
 * same token presented again (a user's next request, the order service's token on every reservation)
 * is not verified again (RSA, claims, passport) while the answer could not differ. Access tokens are
 * not revocable, so the answer changes only with time and with the keys: an entry counts only until
 * the token expires (the same 30 s of tolerance) and only while the key that verified it is among the
 * keys held and those are younger than `JWKS_MAX_AGE_MS` (else the full verification runs, refetching
 * them as before). Only tokens that verified are remembered: a refused token costs a verification
 * every time, as before.
 */
@Injectable()
export class VerifiedTokens {
  private readonly entries = new Map<string, Verified>();

  constructor(private readonly keys: JwksKeyProvider) {}

  /** The principal of a token verified before that would verify now; undefined otherwise. */
  principalOf(token: string): Principal | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    this.entries.delete(token);
    if (Math.floor(Date.now() / 1000) >= entry.until || !this.keys.trusts(entry.kid)) return undefined;
    // Used last, so evicted last: the tokens in use stay, whatever else comes through.
    this.entries.set(token, entry);
    return entry.principal;
  }

  /**
   * Remembers a token that just verified with the key `kid`, until `exp` (seconds since the epoch). A
   * token whose signature is not written the one canonical way is not remembered: base64url leaves the
   * last character's low bits unused, so one RS256 token verifies under 16 spellings, and a client
   * could otherwise fill the map with copies of one token to push out everyone else's.
   */
  remember(token: string, kid: string, exp: number, principal: Principal): void {
    const signature = token.slice(token.lastIndexOf('.') + 1);
    if (Buffer.from(signature, 'base64url').toString('base64url') !== signature) return;
    if (this.entries.size >= VERIFIED_TOKENS_MAX && !this.entries.has(token)) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(token, { principal, kid, until: exp + CLOCK_TOLERANCE_SECONDS });
  }

  get size(): number {
    return this.entries.size;
  }
}

/** The bearer token of an `Authorization` header, parsed as passport-jwt does; undefined without one. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const match = /(\S+)\s+(\S+)/.exec(header);
  return match && match[1].toLowerCase() === 'bearer' ? match[2] : undefined;
}
