import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthModule } from '#lab/auth';
import { AccessTokenSigner } from './access-token.signer.js';
import { KeysController } from './keys.controller.js';
import { KeysService } from './keys.service.js';
import { SigningKey } from './signing-key.entity.js';

@Module({
  imports: [TypeOrmModule.forFeature([SigningKey]), AuthModule],
  controllers: [KeysController],
  providers: [KeysService, AccessTokenSigner],
  exports: [AccessTokenSigner],
})
export class KeysModule {}
