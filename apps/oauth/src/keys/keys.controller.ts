import { Controller, Get, Header, HttpCode, Logger, Post } from '@nestjs/common';
import { Authenticated, CurrentUser, type Principal, Scope } from '#lab/auth';
import { type PublicJwk, toPublicJwk } from './jwk.response.js';
import { KeysService, type Rotation } from './keys.service.js';

@Controller()
export class KeysController {
  private readonly logger = new Logger(KeysController.name);

  constructor(private readonly keys: KeysService) {}

  @Get('.well-known/jwks.json')
  @Header('Cache-Control', 'public, max-age=60')
  async jwks(): Promise<{ keys: PublicJwk[] }> {
    return { keys: (await this.keys.publishedKeys()).map(toPublicJwk) };
  }

  @Post('oauth/keys/rotate')
  @HttpCode(200)
  @Authenticated(Scope.Admin)
  async rotate(@CurrentUser() principal: Principal): Promise<Rotation> {
    const rotation = await this.keys.rotate();
    this.logger.log(`signing key rotated by ${principal.subject} (client ${principal.clientId})`);
    return rotation;
  }
}
