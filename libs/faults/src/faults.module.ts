import { Module } from '@nestjs/common';
import { AuthModule } from '#lab/auth';
import { faults } from './fault-state.js';
import { FaultsController } from './faults.controller.js';
import { FAULT_STATE, FaultsService } from './faults.service.js';

/**
 * `GET|PUT|DELETE /admin/faults` (admin scope) and the `fault_injection_active` gauge. Part of every
 * service through the bootstrap lib, which also installs the request hook ({@link installFaultInjection}).
 */
@Module({
  imports: [AuthModule],
  controllers: [FaultsController],
  providers: [FaultsService, { provide: FAULT_STATE, useValue: faults }],
  exports: [FaultsService],
})
export class FaultsModule {}
