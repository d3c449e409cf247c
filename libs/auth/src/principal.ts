/** Who a verified access token speaks for; `request.user` after the auth guard. */
export interface Principal {
  /** The user id, or the client id for a service token. */
  readonly subject: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  /** `jti` */
  readonly tokenId: string;
  readonly kind: 'user' | 'service';
}

export interface AccessTokenClaims {
  readonly iss: string;
  readonly aud: string | string[];
  readonly sub: string;
  readonly client_id: string;
  readonly scope: string;
  readonly jti: string;
  readonly iat: number;
  readonly exp: number;
  readonly nbf?: number;
}

export function hasScope(principal: Principal, scope: string): boolean {
  return principal.scopes.includes(scope);
}

/** Checks the claims every access token must carry; returns undefined when one is missing or malformed. */
export function principalFromClaims(
  claims: Partial<Record<keyof AccessTokenClaims, unknown>>,
): Principal | undefined {
  const { sub, client_id: clientId, scope, jti, exp, iat } = claims;
  if (typeof sub !== 'string' || sub === '' || typeof clientId !== 'string' || typeof jti !== 'string')
    return undefined;
  if (typeof exp !== 'number' || typeof iat !== 'number' || typeof scope !== 'string') return undefined;
  return {
    subject: sub,
    clientId,
    scopes: scope.split(' ').filter(Boolean),
    tokenId: jti,
    kind: sub === clientId ? 'service' : 'user',
  };
}
