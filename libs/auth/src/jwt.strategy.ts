import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { JwksKeyProvider } from './jwks-key-provider.js';
import { type Principal, principalFromClaims } from './principal.js';
import { SIGNING_ALGORITHM } from './access-token.js';
import { TokenRejected } from './token-rejected.js';

/** Clock skew tolerated on `exp`, `nbf` and `iat`. */
const CLOCK_TOLERANCE_SECONDS = 30;

/** passport-jwt verifying RS256 access tokens against the oauth JWKS, with `iss` and `aud` pinned. */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(@Inject(APP_CONFIG) config: AppConfig, keys: JwksKeyProvider) {
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
    });
  }

  validate(claims: Record<string, unknown>): Principal {
    const principal = principalFromClaims(claims);
    if (!principal)
      throw new TokenRejected('token lacks a required claim (sub, client_id, scope, jti, iat, exp)');
    return principal;
  }
}
