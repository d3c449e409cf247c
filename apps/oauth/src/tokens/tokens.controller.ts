import { Body, Controller, Header, Headers, HttpCode, Ip, Post, UseFilters } from '@nestjs/common';
import { parseTokenRequest } from './dto/token-request.dto.js';
import { TokenErrorFilter } from './token-error.filter.js';
import type { TokenResponse } from './token.response.js';
import { TokensService } from './tokens.service.js';

@Controller('oauth')
@UseFilters(TokenErrorFilter)
export class TokensController {
  constructor(private readonly tokens: TokensService) {}

  /** RFC 6749 token endpoint: form-encoded (or JSON) parameters; errors as RFC 6749 §5.2 JSON. */
  @Post('token')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  @Header('Pragma', 'no-cache')
  async token(
    @Body() body: unknown,
    @Headers('authorization') authorization: string | undefined,
    @Ip() ip: string,
  ): Promise<TokenResponse> {
    return this.tokens.grant(await parseTokenRequest(body), { authorization, ip });
  }
}
