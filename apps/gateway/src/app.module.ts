import { Module } from '@nestjs/common';
import { ConfigModule } from '#lab/config';
import { HealthModule } from '#lab/health';
import { ProxyModule } from './proxy/proxy.module.js';

/** The only public entry point; stateless (no database). */
@Module({
  imports: [ConfigModule.forService('gateway'), HealthModule.forRoot({ database: false }), ProxyModule],
})
export class AppModule {}
