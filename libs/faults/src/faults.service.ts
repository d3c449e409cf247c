import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Principal } from '#lab/auth';
import { APP_CONFIG, type AppConfig, type ServiceName } from '#lab/config';
import { LabError } from '#lab/errors';
import { FaultState, type FaultsSnapshot } from './fault-state.js';
import { applyFaultUpdate, InvalidFaultUpdate, parseFaultUpdate, resetFaults } from './fault-update.js';

/** What `GET`, `PUT` and `DELETE /admin/faults` answer. */
export interface FaultsView {
  service: ServiceName;
  faults: FaultsSnapshot;
}

/**
 * Reads and changes this service's faults. Every change is a warn line naming who (the token's `sub`
 * and `client_id`) and what, so the logs show when a fault started and stopped.
 */
@Injectable()
export class FaultsService {
  private readonly logger = new Logger('FaultInjection');
  readonly service: ServiceName;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly state: FaultState,
  ) {
    this.service = config.service;
  }

  view(): FaultsView {
    return { service: this.service, faults: this.state.snapshot() };
  }

  /** Applies a `PUT` body (a JSON value, or its bytes); 400 naming the field when it is invalid. */
  update(body: unknown, who: Principal): FaultsView {
    let update;
    try {
      update = parseFaultUpdate(Buffer.isBuffer(body) ? parseJson(body) : body, this.service);
    } catch (error) {
      if (!(error instanceof InvalidFaultUpdate)) throw error;
      throw new LabError('invalid_fault', error.message, { details: { errors: error.errors } });
    }
    this.report(applyFaultUpdate(this.state, update), who);
    return this.view();
  }

  reset(who: Principal): FaultsView {
    this.report(resetFaults(this.state), who);
    return this.view();
  }

  private report(changes: string[], who: Principal): void {
    if (changes.length === 0) return;
    const active = this.state.snapshot();
    this.logger.warn({
      message: `fault injection changed on ${this.service} by ${who.subject} (client ${who.clientId}): ${changes.join(', ')}`,
      'fault.changes': changes,
      'fault.state': active,
      'enduser.id': who.subject,
      client_id: who.clientId,
    });
  }
}

/** The gateway reads bodies as bytes (it forwards them untouched). */
function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new InvalidFaultUpdate(['body must be a JSON object']);
  }
}
