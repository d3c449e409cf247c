import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ProblemResponse } from '#lab/openapi';
import type { SignedAccessToken } from '../keys/access-token.signer.js';

/** RFC 6749 §5.1 */
export class TokenResponse {
  @ApiProperty({ description: 'An RS256 JWT (`typ: at+jwt`).' })
  access_token!: string;

  @ApiProperty({ enum: ['Bearer'] })
  token_type!: 'Bearer';

  @ApiProperty({ type: 'integer', description: 'Seconds until the access token expires.' })
  expires_in!: number;

  @ApiPropertyOptional({
    description: 'Password and refresh_token grants: rotating; reusing one revokes its family.',
  })
  refresh_token?: string;

  @ApiProperty({ example: 'profile orders', description: 'The granted scopes, space-separated.' })
  scope!: string;
}

/** RFC 6749 §5.2 errors (as `application/json`), with the problem fields next to `error`. */
export class OAuthErrorResponse extends ProblemResponse {
  @ApiProperty({
    enum: [
      'invalid_request',
      'invalid_client',
      'invalid_grant',
      'unauthorized_client',
      'unsupported_grant_type',
      'invalid_scope',
      'server_error',
      'temporarily_unavailable',
    ],
  })
  error!: string;

  @ApiProperty()
  error_description!: string;
}

export function toTokenResponse(
  accessToken: SignedAccessToken,
  scopes: readonly string[],
  refreshToken?: string,
): TokenResponse {
  return {
    access_token: accessToken.token,
    token_type: 'Bearer',
    expires_in: accessToken.expiresIn,
    ...(refreshToken ? { refresh_token: refreshToken } : {}),
    scope: scopes.join(' '),
  };
}
