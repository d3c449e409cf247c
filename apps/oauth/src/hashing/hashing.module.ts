import { Module, type OnModuleInit } from '@nestjs/common';
import { TelemetryModule } from '#lab/telemetry';
import { PasswordHasher } from './password-hasher.js';

@Module({ imports: [TelemetryModule], providers: [PasswordHasher], exports: [PasswordHasher] })
export class HashingModule implements OnModuleInit {
  constructor(private readonly hasher: PasswordHasher) {}

  /** The dummy hash at start-up: the service's own, so it waits for the queue however long it takes. */
  async onModuleInit(): Promise<void> {
    await this.hasher.dummyHash().catch((error: unknown) => {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`computing the dummy password hash failed: ${reason}`, { cause: error });
    });
  }
}
