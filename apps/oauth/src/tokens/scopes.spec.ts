import { describe, expect, it } from 'vitest';
import { OAuthException } from './oauth.exception.js';
import { grantedScopes } from './scopes.js';

describe(grantedScopes.name, () => {
  it('grants every allowed scope when none is requested', () => {
    expect(grantedScopes(undefined, ['profile', 'orders'])).toEqual(['profile', 'orders']);
    expect(grantedScopes('  ', ['profile'])).toEqual(['profile']);
  });

  it('grants a requested subset, once each', () => {
    expect(grantedScopes('orders  orders', ['profile', 'orders'])).toEqual(['orders']);
  });

  it('refuses a scope that is not allowed with invalid_scope', () => {
    expect(() => grantedScopes('profile admin', ['profile'])).toThrow(OAuthException);
    try {
      grantedScopes('profile admin', ['profile']);
    } catch (error) {
      expect((error as OAuthException).getResponse()).toEqual({
        error: 'invalid_scope',
        error_description: 'scope not allowed: admin',
      });
    }
  });
});
