import { Body, Controller, Header, Headers, HttpCode, Ip, Post, UseFilters } from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiExtraModels,
  ApiOkResponse,
  ApiOperation,
  ApiResponse,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import { ApiProblems } from '#lab/openapi';
import { parseTokenRequest, TokenRequestDto } from './dto/token-request.dto.js';
import { TokenErrorFilter } from './token-error.filter.js';
import { OAuthErrorResponse, TokenResponse } from './token.response.js';
import { TokensService } from './tokens.service.js';

/** RFC 6749 errors are `application/json` (not problem+json), with the problem fields kept. */
const oauthError = (status: number, description: string) =>
  ApiResponse({
    status,
    description,
    content: { 'application/json': { schema: { $ref: getSchemaPath(OAuthErrorResponse) } } },
  });

@Controller('oauth')
@ApiTags('oauth')
@ApiExtraModels(OAuthErrorResponse, TokenRequestDto)
@UseFilters(TokenErrorFilter)
export class TokensController {
  constructor(private readonly tokens: TokensService) {}

  /** RFC 6749 token endpoint: form-encoded (or JSON) parameters; errors as RFC 6749 §5.2 JSON. */
  @Post('token')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  @Header('Pragma', 'no-cache')
  @ApiOperation({
    summary: 'Get tokens: password, client_credentials or refresh_token grant (RFC 6749)',
    description:
      'Sign-in failures are counted per account and per address before the password is checked: past the limit, 429 with Retry-After.',
  })
  @ApiConsumes('application/x-www-form-urlencoded', 'application/json')
  @ApiBody({ type: TokenRequestDto })
  @ApiOkResponse({
    type: TokenResponse,
    headers: { 'Cache-Control': { schema: { type: 'string', enum: ['no-store'] } } },
  })
  @oauthError(
    400,
    'invalid_request, invalid_grant, unsupported_grant_type, unauthorized_client, invalid_scope',
  )
  @oauthError(401, 'invalid_client (with a Basic challenge)')
  @oauthError(429, 'Too many failed attempts (Retry-After)')
  @ApiProblems(503)
  async token(
    @Body() body: unknown,
    @Headers('authorization') authorization: string | undefined,
    @Ip() ip: string,
  ): Promise<TokenResponse> {
    return this.tokens.grant(await parseTokenRequest(body), { authorization, ip });
  }
}
