import { type DynamicModule, Module } from '@nestjs/common';
import { TerminusModule, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { FaultsModule } from '#lab/faults';
import { HEALTH_OPTIONS, HealthController, type HealthOptions } from './health.controller.js';
import { ShutdownState } from './shutdown-state.js';

@Module({})
export class HealthModule {
  /** `/health/live` and `/health/ready` (`@nestjs/terminus`). */
  static forRoot(options: HealthOptions): DynamicModule {
    return {
      module: HealthModule,
      imports: [TerminusModule.forRoot({ errorLogStyle: 'json' }), FaultsModule],
      controllers: [HealthController],
      providers: [
        ShutdownState,
        { provide: HEALTH_OPTIONS, useValue: options },
        ...(options.database ? [TypeOrmHealthIndicator] : []),
      ],
      exports: [ShutdownState],
    };
  }
}
