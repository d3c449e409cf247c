import { Module } from '@nestjs/common';
import { ConfigModule } from '#lab/config';
import { HealthModule } from '#lab/health';

/** The only public entry point; stateless (no database). */
@Module({
  imports: [ConfigModule.forService('gateway'), HealthModule.forRoot({ database: false })],
})
export class AppModule {}
