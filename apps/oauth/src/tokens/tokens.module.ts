import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthModule } from '#lab/auth';
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
import { TokenMetrics } from './token.metrics.js';
import { TokensService } from './tokens.service.js';

@Module({
  imports: [
    TypeOrmModule.forFeature([RefreshToken, ThrottleBucket]),
    AuthModule,
    HashingModule,
    KeysModule,
    UsersModule,
    ClientsModule,
  ],
  controllers: [TokensController, DiscoveryController],
  providers: [TokensService, TokenMetrics, RefreshTokensService, LoginThrottle],
})
export class TokensModule {}
