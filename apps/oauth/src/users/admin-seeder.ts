import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import type { MongoRepository } from 'typeorm';
import { RefreshToken } from '../tokens/refresh-token.entity.js';
import { CustomerClient } from './customer.client.js';
import type { User } from './user.entity.js';
import { UsersService } from './users.service.js';
import { ADMIN_SCOPES } from './user-scopes.js';

const FIRST_ATTEMPT_DELAY_MS = 500;
const MAX_RETRY_DELAY_MS = 30_000;

/**
 * Seeds the admin account from the configuration on start-up (idempotent: the unique email decides
 * between two instances; a changed OAUTH_ADMIN_PASSWORD replaces the stored hash), then its customer profile in the background: the customer service may not
 * be up yet, and it can only verify our token once this service listens. Its password hashes are the
 * service's own (`'service'`): they wait for the hashing queue however busy the machine is, never shed.
 */
@Injectable()
export class AdminSeeder implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AdminSeeder.name);
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly users: UsersService,
    private readonly customers: CustomerClient,
    @InjectRepository(RefreshToken) private readonly refreshTokens: MongoRepository<RefreshToken>,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const admin = await this.seed().catch((error: unknown) => {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`seeding the admin account ${this.config.oauth.adminEmail} failed: ${reason}`, {
        cause: error,
      });
    });
    if (admin) this.ensureProfile(admin, 1, FIRST_ATTEMPT_DELAY_MS);
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async seed(): Promise<User | null> {
    const { adminEmail, adminPassword } = this.config.oauth;
    let admin = await this.users.findByEmail(adminEmail);
    if (!admin) {
      admin =
        (await this.users.insert(
          {
            email: adminEmail.toLowerCase(),
            password: adminPassword,
            name: 'Administrator',
            scopes: ADMIN_SCOPES,
          },
          'service',
        )) ?? null;
      if (admin) this.logger.log(`seeded the admin account ${admin.email}`);
      else admin = await this.users.findByEmail(adminEmail);
    } else if (!(await this.users.passwordMatches(admin, adminPassword, 'service'))) {
      // OAUTH_ADMIN_PASSWORD changed since the account was seeded: the configuration wins, the old one stops working.
      await this.users.setPassword(admin, adminPassword, 'service');
      // As after any password change: the sessions started with the old password end.
      const revoked = await this.refreshTokens.updateMany(
        { userId: admin._id.toHexString(), revokedAt: null },
        { $set: { revokedAt: new Date() } },
      );
      this.logger.warn(
        `updated the password of the admin account ${admin.email} from OAUTH_ADMIN_PASSWORD; revoked its ${revoked.modifiedCount} refresh token(s)`,
      );
    }
    return admin;
  }

  private ensureProfile(admin: User, attempt: number, delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.customers
        .createProfile({ userId: admin._id.toHexString(), email: admin.email, name: admin.name })
        .then(
          (outcome) =>
            this.logger.log(
              `the admin's customer profile ${outcome === 'created' ? 'was created' : 'exists'}`,
            ),
          (error: unknown) => {
            const retryMs = Math.min(delayMs * 2, MAX_RETRY_DELAY_MS);
            const reason = error instanceof Error ? error.message : String(error);
            this.logger.warn(
              `the admin's customer profile could not be created (attempt ${attempt}: ${reason}); retrying in ${retryMs} ms`,
            );
            this.ensureProfile(admin, attempt + 1, retryMs);
          },
        );
    }, delayMs);
    this.timer.unref();
  }
}
