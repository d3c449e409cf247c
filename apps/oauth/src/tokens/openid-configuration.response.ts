import { ApiProperty } from '@nestjs/swagger';
import { SIGNING_ALGORITHM, Scope } from '#lab/auth';
import { SUPPORTED_GRANT_TYPES } from './tokens.service.js';

/** OpenID Connect Discovery 1.0 (the fields this issuer fills). */
export class OpenIdConfiguration {
  @ApiProperty({ example: 'http://localhost:3000' }) issuer!: string;
  @ApiProperty() jwks_uri!: string;
  @ApiProperty() token_endpoint!: string;
  @ApiProperty({ type: [String] }) grant_types_supported!: string[];
  @ApiProperty({ type: [String] }) token_endpoint_auth_methods_supported!: string[];
  @ApiProperty({ type: [String] }) response_types_supported!: string[];
  @ApiProperty({ type: [String] }) subject_types_supported!: string[];
  @ApiProperty({ type: [String] }) id_token_signing_alg_values_supported!: string[];
  @ApiProperty({ type: [String] }) scopes_supported!: string[];
  @ApiProperty({ type: [String] }) claims_supported!: string[];
}

/** The discovery document; every URL is the issuer's, i.e. the gateway's public address. */
export function openIdConfiguration(issuer: string): OpenIdConfiguration {
  return {
    issuer,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    token_endpoint: `${issuer}/api/oauth/token`,
    grant_types_supported: [...SUPPORTED_GRANT_TYPES],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    response_types_supported: ['token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [SIGNING_ALGORITHM],
    scopes_supported: Object.values(Scope),
    claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'client_id', 'scope'],
  };
}
