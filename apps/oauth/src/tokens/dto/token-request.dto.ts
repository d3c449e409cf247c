import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { plainToInstance } from 'class-transformer';
import { IsOptional, IsString, MaxLength, validate } from 'class-validator';
import { OAuthException } from '../oauth.exception.js';

/** RFC 6749 token request parameters (their names as on the wire). */
export class TokenRequestDto {
  @ApiProperty({ enum: ['password', 'client_credentials', 'refresh_token'] })
  @IsString()
  @MaxLength(64)
  grant_type!: string;

  @ApiPropertyOptional({ description: 'password grant: the e-mail address.' })
  @IsOptional()
  @IsString()
  @MaxLength(254)
  username?: string;

  @ApiPropertyOptional({ description: 'password grant.' })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  password?: string;

  @ApiPropertyOptional({
    description: 'Or HTTP Basic; the public client `lab-web` is the default for the password grant.',
  })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  client_id?: string;

  @ApiPropertyOptional({ description: 'client_credentials grant (or HTTP Basic).' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  client_secret?: string;

  @ApiPropertyOptional({ description: 'Space-separated; at most the scopes the user or client holds.' })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  scope?: string;

  @ApiPropertyOptional({ description: 'refresh_token grant.' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  refresh_token?: string;
}

/**
 * Validates a token request here rather than through the global ValidationPipe: RFC 6749 §3.2 says
 * unrecognised parameters MUST be ignored (not rejected), and errors must be `invalid_request`.
 */
export async function parseTokenRequest(body: unknown): Promise<TokenRequestDto> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new OAuthException(
      'invalid_request',
      'send the parameters as application/x-www-form-urlencoded (or a JSON object)',
    );
  }
  const request = plainToInstance(TokenRequestDto, body);
  const errors = await validate(request, { whitelist: true, forbidNonWhitelisted: false });
  if (errors.length > 0) {
    throw new OAuthException(
      'invalid_request',
      errors.flatMap((error) => Object.values(error.constraints ?? {})).join('; '),
    );
  }
  return request;
}
