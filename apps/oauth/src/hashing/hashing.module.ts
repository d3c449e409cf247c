import { Module, type OnModuleInit } from '@nestjs/common';
import { TelemetryModule } from '#lab/telemetry';
import { PasswordHasher } from './password-hasher.js';

@Module({ imports: [TelemetryModule], providers: [PasswordHasher], exports: [PasswordHasher] })
export class HashingModule implements OnModuleInit {
  constructor(private readonly hasher: PasswordHasher) {}

  async onModuleInit(): Promise<void> {
    await this.hasher.dummyHash();
  }
}
