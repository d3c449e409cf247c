import type { IncomingHttpHeaders } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import { decodeProtectedHeader } from 'jose';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { JwksKeyProvider } from './jwks-key-provider.js';
import { type Principal, principalFromClaims } from './principal.js';
import { CLOCK_TOLERANCE_SECONDS, SIGNING_ALGORITHM } from './access-token.js';
import { TokenRejected } from './token-rejected.js';
import { bearerToken, VerifiedTokens } from './verified-tokens.js';

/**
 * passport-jwt verifying RS256 access tokens against the oauth JWKS, with `iss` and `aud` pinned; a
 * token that verified is remembered ({@link VerifiedTokens}), so {@link JwtAuthGuard} need not run
 * this again for it.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    keys: JwksKeyProvider,
    private readonly verified: VerifiedTokens,
  ) {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      secretOrKeyProvider: (
        _request: unknown,
        token: string,
        done: (error: Error | null, key?: string) => void,
      ) => {
        keys.keyFor(token).then(
          // passport-jwt's typing says string; jsonwebtoken takes a KeyObject.
          (key) => done(null, key as unknown as string),
          (error: Error) => done(error),
        );
      },
      algorithms: [SIGNING_ALGORITHM],
      issuer: config.auth.issuer,
      audience: config.auth.audience,
      jsonWebTokenOptions: { clockTolerance: CLOCK_TOLERANCE_SECONDS },
      ignoreExpiration: false,
      passReqToCallback: true,
    });
  }

  validate(request: { headers: IncomingHttpHeaders }, claims: Record<string, unknown>): Principal {
    const principal = principalFromClaims(claims);
    if (!principal)
      throw new TokenRejected('token lacks a required claim (sub, client_id, scope, jti, iat, exp)');
    const token = bearerToken(request.headers.authorization);
    // The header was checked (a string kid) before the key was looked up.
    const kid = token === undefined ? undefined : decodeProtectedHeader(token).kid;
    if (token !== undefined && typeof kid === 'string' && typeof claims.exp === 'number')
      this.verified.remember(token, kid, claims.exp, principal);
    return principal;
  }
}
