import { Module } from '@nestjs/common';
import { AuthModule } from '#lab/auth';
import { FaultsModule } from '#lab/faults';
import { ProxyModule } from '../proxy/proxy.module.js';
import { FaultRoutesController } from './fault-routes.controller.js';

/** The fault switch of every service, through the gateway (`/api/admin/faults/:service`). */
@Module({
  imports: [AuthModule, FaultsModule, ProxyModule],
  controllers: [FaultRoutesController],
})
export class FaultRoutesModule {}
