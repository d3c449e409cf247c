import { Controller, Get, Header, Inject } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import { openIdConfiguration, type OpenIdConfiguration } from './openid-configuration.response.js';

@Controller('.well-known')
export class DiscoveryController {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  @Get('openid-configuration')
  @Header('Cache-Control', 'public, max-age=300')
  configuration(): OpenIdConfiguration {
    return openIdConfiguration(this.config.auth.issuer);
  }
}
