import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { HttpClientModule } from '#lab/http-client';
import { HashingModule } from '../hashing/hashing.module.js';
import { KeysModule } from '../keys/keys.module.js';
import { AdminSeeder } from './admin-seeder.js';
import { CustomerClient } from './customer.client.js';
import { RefreshToken } from '../tokens/refresh-token.entity.js';
import { User } from './user.entity.js';
import { UsersController } from './users.controller.js';
import { UsersService } from './users.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([User, RefreshToken]), HashingModule, KeysModule, HttpClientModule],
  controllers: [UsersController],
  providers: [UsersService, CustomerClient, AdminSeeder],
  exports: [UsersService],
})
export class UsersModule {}
