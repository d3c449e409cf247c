import { Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AuthModule } from '#lab/auth';
import { TelemetryModule } from '#lab/telemetry';
import { FaultInjection } from './fault-injection.js';
import { FaultState } from './fault-state.js';
import { FaultsController } from './faults.controller.js';
import { FaultsService } from './faults.service.js';

/**
 * The fault switch of a service: its {@link FaultState}, `GET|PUT|DELETE /admin/faults` (admin scope),
 * {@link FaultInjection} (where faults take effect, with `faults_injected_total` and
 * `fault_injection_active`). Part of `ObservabilityModule`; its request hook is added by
 * {@link FaultsModule.setup}.
 */
@Module({
  imports: [AuthModule, TelemetryModule],
  controllers: [FaultsController],
  providers: [FaultState, FaultInjection, FaultsService],
  exports: [FaultState, FaultInjection, FaultsService],
})
export class FaultsModule {
  /** Adds the latency and error hook to the application's Fastify instance (after every `onRequest` hook). */
  static setup(app: NestFastifyApplication): void {
    app.get(FaultInjection).install(app.getHttpAdapter().getInstance());
  }
}
