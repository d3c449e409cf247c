import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';

/** Set when SIGTERM arrives: readiness answers 503 so load balancers stop sending traffic. */
@Injectable()
export class ShutdownState {
  private draining = false;

  constructor(private readonly indicator: HealthIndicatorService) {}

  begin(): void {
    this.draining = true;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  check() {
    const session = this.indicator.check('lifecycle');
    return this.draining ? session.down({ state: 'shutting down' }) : session.up({ state: 'serving' });
  }
}
