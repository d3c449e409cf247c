import { Controller, Get, Header, HttpCode, Logger, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Authenticated, CurrentUser, type Principal, Scope } from '#lab/auth';
import { ApiProblems, ApiScopes } from '#lab/openapi';
import { JwksResponse, RotationResponse, toPublicJwk } from './jwk.response.js';
import { KeysService } from './keys.service.js';

@Controller()
@ApiTags('keys')
export class KeysController {
  private readonly logger = new Logger(KeysController.name);

  constructor(private readonly keys: KeysService) {}

  @Get('.well-known/jwks.json')
  @Header('Cache-Control', 'public, max-age=60')
  @ApiOperation({ summary: 'The public signing keys (JWKS)' })
  @ApiOkResponse({ type: JwksResponse })
  async jwks(): Promise<JwksResponse> {
    return { keys: (await this.keys.publishedKeys()).map(toPublicJwk) };
  }

  @Post('oauth/keys/rotate')
  @HttpCode(200)
  @Authenticated(Scope.Admin)
  @ApiOperation({ summary: 'Sign with a new key from now on (409 when the key comes from a file)' })
  @ApiScopes(Scope.Admin)
  @ApiOkResponse({ type: RotationResponse })
  @ApiProblems(409)
  async rotate(@CurrentUser() principal: Principal): Promise<RotationResponse> {
    const rotation = await this.keys.rotate();
    this.logger.log(`signing key rotated by ${principal.subject} (client ${principal.clientId})`);
    return rotation;
  }
}
