import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, type AppConfig, defaultSecretsIn } from '#lab/config';

/**
 * Under NODE_ENV=production, names at every start each secret still at its development default (the
 * admin's password, the seeded clients' secrets): the lab still starts, as one command on a laptop must.
 */
@Injectable()
export class DefaultSecretsWarning implements OnApplicationBootstrap {
  private readonly logger = new Logger('Secrets');

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  onApplicationBootstrap(): void {
    if (this.config.nodeEnv !== 'production') return;
    for (const variable of defaultSecretsIn(this.config)) {
      this.logger.warn(
        `${variable} is the development default, known to anyone who read the lab's sources: set it (see .env.example)`,
      );
    }
  }
}
