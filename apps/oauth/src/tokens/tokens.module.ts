import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ClientsModule } from '../clients/clients.module.js';
import { HashingModule } from '../hashing/hashing.module.js';
import { KeysModule } from '../keys/keys.module.js';
import { UsersModule } from '../users/users.module.js';
import { DiscoveryController } from './discovery.controller.js';
import { ThrottleBucket } from './throttle-bucket.entity.js';
import { LoginThrottle } from './login-throttle.service.js';
import { RefreshToken } from './refresh-token.entity.js';
import { RefreshTokensService } from './refresh-tokens.service.js';
import { TokensController } from './tokens.controller.js';
import { TokensService } from './tokens.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([RefreshToken, ThrottleBucket]), HashingModule, KeysModule, UsersModule, ClientsModule],
  controllers: [TokensController, DiscoveryController],
  providers: [TokensService, RefreshTokensService, LoginThrottle],
})
export class TokensModule {}
