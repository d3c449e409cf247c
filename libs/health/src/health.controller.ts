import { Controller, Get, Inject, Optional, UseFilters } from '@nestjs/common';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import { FaultInjection } from '#lab/faults';
import { ApiExtension, ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheckFilter } from './health-check.filter.js';
import { ShutdownState } from './shutdown-state.js';

export const HEALTH_OPTIONS = Symbol('HEALTH_OPTIONS');
export interface HealthOptions {
  /** Readiness pings the service's database (false for the stateless gateway). */
  readonly database: boolean;
}

@Controller('health')
@ApiTags('operations')
@ApiExtension('x-internal', true)
@UseFilters(HealthCheckFilter)
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly shutdown: ShutdownState,
    private readonly indicator: HealthIndicatorService,
    @Inject(HEALTH_OPTIONS) private readonly options: HealthOptions,
    private readonly faults: FaultInjection,
    @Optional() private readonly database?: TypeOrmHealthIndicator,
  ) {}

  /** The process is up and its event loop turns; nothing external is checked. */
  @Get('live')
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness: the process is up' })
  live() {
    return this.health.check([]);
  }

  /** Able to serve: not shutting down, the database answers a ping, and no readiness fault is injected. */
  @Get('ready')
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: not shutting down, the database answers (503 otherwise)' })
  ready() {
    const { database } = this;
    return this.health.check([
      () => this.shutdown.check(),
      ...(this.faults.failsReadiness() ? [() => this.injectedFault()] : []),
      ...(this.options.database && database ? [() => database.pingCheck('database', { timeout: 1500 })] : []),
    ]);
  }

  /** The readiness fault (`PUT /admin/faults {"readinessFailing": true}`): down, whatever the rest says. */
  private injectedFault() {
    return this.indicator.check('fault_injection').down({ state: 'readiness fault injected' });
  }
}
