import { Injectable } from '@nestjs/common';
import { AuthMetrics, PUBLIC_CLIENT_ID } from '#lab/auth';
import { Span, TraceService } from 'nestjs-otel';
import { type ClientCredentials, parseBasicCredentials } from '../clients/client-authentication.js';
import { ClientsService } from '../clients/clients.service.js';
import { PasswordHasher } from '../hashing/password-hasher.js';
import { AccessTokenSigner } from '../keys/access-token.signer.js';
import { UsersService } from '../users/users.service.js';
import type { TokenRequestDto } from './dto/token-request.dto.js';
import { LoginThrottle, Reservation } from './login-throttle.service.js';
import { OAuthException } from './oauth.exception.js';
import { InvalidRefreshToken, RefreshTokensService } from './refresh-tokens.service.js';
import { grantedScopes } from './scopes.js';
import { TOKEN_GRANTS, type TokenGrant, TokenMetrics } from './token.metrics.js';
import { toTokenResponse, type TokenResponse } from './token.response.js';
import { SERVICE_CLIENTS } from '../clients/client-registry.js';

export interface TokenRequestContext {
  /** The `Authorization` header, for HTTP Basic client authentication. */
  readonly authorization: string | undefined;
  readonly ip: string;
}

export const SUPPORTED_GRANT_TYPES = ['password', 'client_credentials', 'refresh_token'] as const;

@Injectable()
export class TokensService {
  constructor(
    private readonly signer: AccessTokenSigner,
    private readonly users: UsersService,
    private readonly clients: ClientsService,
    private readonly refreshTokens: RefreshTokensService,
    private readonly throttle: LoginThrottle,
    private readonly hasher: PasswordHasher,
    private readonly metrics: TokenMetrics,
    private readonly authMetrics: AuthMetrics,
    private readonly traces: TraceService,
  ) {}

  /**
   * In a `token.issue` span; counts `tokens_issued_total{grant}`, and failed password or client
   * authentications in `auth_failures_total{reason}`.
   */
  @Span('token.issue', (request: TokenRequestDto, _context: TokenRequestContext) => ({
    attributes: { 'oauth.grant_type': String(request.grant_type) },
  }))
  async grant(request: TokenRequestDto, context: TokenRequestContext): Promise<TokenResponse> {
    const grantType = String(request.grant_type);
    try {
      const response = await this.issue(request, context);
      this.traces.getSpan()?.setAttribute('oauth.scope', response.scope);
      if (isGrant(grantType)) this.metrics.issued.inc({ grant: grantType });
      return response;
    } catch (error) {
      if (error instanceof OAuthException) {
        const failures = this.authMetrics.failures;
        if (error.getStatus() === 429) failures.inc({ reason: 'throttled' });
        else if (error.code === 'invalid_grant') failures.inc({ reason: 'invalid_grant' });
        else if (error.code === 'invalid_client') failures.inc({ reason: 'invalid_client' });
      }
      throw error;
    }
  }

  private issue(request: TokenRequestDto, context: TokenRequestContext): Promise<TokenResponse> {
    switch (request.grant_type) {
      case 'password':
        return this.passwordGrant(request, context);
      case 'client_credentials':
        return this.clientCredentialsGrant(request, context);
      case 'refresh_token':
        return this.refreshTokenGrant(request, context);
      default:
        throw new OAuthException(
          'unsupported_grant_type',
          `supported grant types: ${SUPPORTED_GRANT_TYPES.join(', ')}`,
        );
    }
  }

  private async passwordGrant(
    request: TokenRequestDto,
    context: TokenRequestContext,
  ): Promise<TokenResponse> {
    this.requirePublicClient(request, context, 'password');
    if (!request.username || !request.password)
      throw new OAuthException('invalid_request', 'username and password are required');
    const email = request.username.trim().toLowerCase();
    const password = request.password;
    const user = await this.checked(
      this.throttle.passwordKeys(email, context.ip),
      'invalid_grant',
      'sign-in',
      async () => {
        const found = await this.users.findByEmail(email);
        const valid = await this.hasher.verify(password, found?.passwordHash, { client: context.ip });
        return found && valid ? found : undefined;
      },
    );
    if (!user) throw new OAuthException('invalid_grant', 'invalid username or password');
    const scopes = grantedScopes(request.scope, user.scopes);
    const grant = { userId: user._id.toHexString(), clientId: PUBLIC_CLIENT_ID, scopes };
    const accessToken = await this.signer.sign({ subject: grant.userId, clientId: grant.clientId, scopes });
    return toTokenResponse(accessToken, scopes, await this.refreshTokens.issue(grant));
  }

  private async clientCredentialsGrant(
    request: TokenRequestDto,
    context: TokenRequestContext,
  ): Promise<TokenResponse> {
    const { clientId, clientSecret } = this.clientCredentials(request, context);
    if (clientId === PUBLIC_CLIENT_ID) {
      throw new OAuthException(
        'unauthorized_client',
        `${PUBLIC_CLIENT_ID} is a public client and cannot use client_credentials`,
      );
    }
    const client = await this.checked(
      this.throttle.clientKeys(clientId, context.ip),
      'invalid_client',
      'client authentication',
      () => this.clients.authenticate(clientId, clientSecret, context.ip),
    );
    if (!client) throw OAuthException.invalidClient('client authentication failed');
    const scopes = grantedScopes(request.scope, client.scopes);
    const accessToken = await this.signer.sign({
      subject: client.clientId,
      clientId: client.clientId,
      scopes,
    });
    return toTokenResponse(accessToken, scopes);
  }

  private async refreshTokenGrant(
    request: TokenRequestDto,
    context: TokenRequestContext,
  ): Promise<TokenResponse> {
    this.requirePublicClient(request, context, 'refresh_token');
    if (!request.refresh_token) throw new OAuthException('invalid_request', 'refresh_token is required');
    try {
      const grant = await this.refreshTokens.consume(request.refresh_token);
      const user = await this.users.findById(grant.userId);
      if (!user) {
        await this.refreshTokens.revokeFamily(grant.familyId);
        throw new InvalidRefreshToken('the account no longer exists');
      }
      // A scope the user has lost since signing in is not granted again.
      const scopes = grantedScopes(
        request.scope,
        grant.scopes.filter((scope) => user.scopes.includes(scope)),
      );
      const refreshToken = await this.refreshTokens.rotate(grant);
      const accessToken = await this.signer.sign({ subject: grant.userId, clientId: grant.clientId, scopes });
      return toTokenResponse(accessToken, scopes, refreshToken);
    } catch (error) {
      if (error instanceof InvalidRefreshToken) throw new OAuthException('invalid_grant', error.reason);
      throw error;
    }
  }

  /**
   * Runs `check` (which hashes a secret) within the throttle: the attempt is counted first, and refused
   * with 429 and Retry-After when its buckets are full; a success takes the count back, a failure
   * (undefined) keeps it, a check that never ran (hashing queue full) does not count.
   */
  private async checked<T>(
    keys: Parameters<LoginThrottle['reserve']>[0],
    code: 'invalid_grant' | 'invalid_client',
    what: string,
    check: () => Promise<T | undefined>,
  ): Promise<T | undefined> {
    const reservation = await this.throttle.reserve(keys);
    if (!(reservation instanceof Reservation)) {
      const retryAfter = reservation.retryAfterSeconds;
      throw new OAuthException(code, `too many failed ${what} attempts; retry in ${retryAfter} s`, 429, {
        'retry-after': String(retryAfter),
      });
    }
    let result: T | undefined;
    try {
      result = await check();
    } catch (error) {
      await reservation.cancelled();
      throw error;
    }
    await (result === undefined ? reservation.failed() : reservation.succeeded());
    return result;
  }

  /** The password and refresh_token grants are for the first-party public client only. */
  private requirePublicClient(
    request: TokenRequestDto,
    context: TokenRequestContext,
    grantType: string,
  ): void {
    const basic = this.basicCredentials(context);
    if (basic && request.client_id !== undefined && request.client_id !== basic.clientId) {
      throw new OAuthException(
        'invalid_request',
        'client_id differs from the client of the Authorization header',
      );
    }
    const clientId = basic?.clientId ?? request.client_id;
    if (clientId === undefined || clientId === PUBLIC_CLIENT_ID) return;
    if (Object.hasOwn(SERVICE_CLIENTS, clientId)) {
      throw new OAuthException(
        'unauthorized_client',
        `client ${clientId} may not use the ${grantType} grant`,
      );
    }
    throw OAuthException.invalidClient('unknown client');
  }

  /** RFC 6749 §2.3.1: HTTP Basic, or `client_id` and `client_secret` in the body; not both. */
  private clientCredentials(request: TokenRequestDto, context: TokenRequestContext): ClientCredentials {
    const basic = this.basicCredentials(context);
    if (basic) {
      if (request.client_secret !== undefined) {
        throw new OAuthException(
          'invalid_request',
          'use one client authentication method: the Authorization header or the body',
        );
      }
      if (request.client_id !== undefined && request.client_id !== basic.clientId) {
        throw new OAuthException(
          'invalid_request',
          'client_id differs from the client of the Authorization header',
        );
      }
      return basic;
    }
    if (request.client_id && request.client_secret)
      return { clientId: request.client_id, clientSecret: request.client_secret };
    throw OAuthException.invalidClient(
      'client authentication required: HTTP Basic, or client_id and client_secret in the body',
    );
  }

  private basicCredentials(context: TokenRequestContext): ClientCredentials | undefined {
    try {
      return parseBasicCredentials(context.authorization);
    } catch {
      throw OAuthException.invalidClient('malformed Basic authorization header');
    }
  }
}

function isGrant(value: string): value is TokenGrant {
  return (TOKEN_GRANTS as readonly string[]).includes(value);
}
