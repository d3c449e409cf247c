import { Module } from '@nestjs/common';
import { AuthModule } from '#lab/auth';
import { FaultsModule } from '#lab/faults';
import { FaultRoutesController } from './fault-routes.controller.js';

/** The fault switch of every service, through the gateway (`/api/admin/faults/:service`). */
@Module({
  imports: [AuthModule, FaultsModule],
  controllers: [FaultRoutesController],
})
export class FaultRoutesModule {}
