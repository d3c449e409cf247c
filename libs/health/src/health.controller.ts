import { Controller, Get, Inject, Optional, UseFilters } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { HealthCheckFilter } from './health-check.filter.js';
import { ShutdownState } from './shutdown-state.js';

export const HEALTH_OPTIONS = Symbol('HEALTH_OPTIONS');
export interface HealthOptions {
  /** Readiness pings the service's database (false for the stateless gateway). */
  readonly database: boolean;
}

@Controller('health')
@UseFilters(HealthCheckFilter)
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly shutdown: ShutdownState,
    @Inject(HEALTH_OPTIONS) private readonly options: HealthOptions,
    @Optional() private readonly database?: TypeOrmHealthIndicator,
  ) {}

  /** The process is up and its event loop turns; nothing external is checked. */
  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  /** Able to serve: not shutting down, and the database answers a ping. */
  @Get('ready')
  @HealthCheck()
  ready() {
    const { database } = this;
    return this.health.check([
      () => this.shutdown.check(),
      ...(this.options.database && database ? [() => database.pingCheck('database', { timeout: 1500 })] : []),
    ]);
  }
}
