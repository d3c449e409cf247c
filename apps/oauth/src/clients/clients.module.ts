import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { HashingModule } from '../hashing/hashing.module.js';
import { Client } from './client.entity.js';
import { ClientsService } from './clients.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([Client]), HashingModule],
  providers: [ClientsService],
  exports: [ClientsService],
})
export class ClientsModule {}
