import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import { openIdConfiguration, OpenIdConfiguration } from './openid-configuration.response.js';

@Controller('.well-known')
@ApiTags('keys')
export class DiscoveryController {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  @Get('openid-configuration')
  @Header('Cache-Control', 'public, max-age=300')
  @ApiOperation({ summary: 'OpenID discovery: the issuer, its token endpoint and JWKS' })
  @ApiOkResponse({ type: OpenIdConfiguration })
  configuration(): OpenIdConfiguration {
    return openIdConfiguration(this.config.auth.issuer);
  }
}
