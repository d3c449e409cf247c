import { OAuthException } from './oauth.exception.js';

/** The scopes to grant: all that are allowed when none are asked for, else the requested ones if all are allowed. */
export function grantedScopes(requested: string | undefined, allowed: readonly string[]): string[] {
  const wanted = [...new Set((requested ?? '').split(' ').filter(Boolean))];
  if (wanted.length === 0) return [...allowed];
  const refused = wanted.filter((scope) => !allowed.includes(scope));
  if (refused.length > 0)
    throw new OAuthException('invalid_scope', `scope not allowed: ${refused.join(' ')}`);
  return wanted;
}
