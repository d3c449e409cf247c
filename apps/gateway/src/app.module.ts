import { Module } from '@nestjs/common';
import { ConfigModule } from '#lab/config';
import { HealthModule } from '#lab/health';
import { FaultRoutesModule } from './faults/fault-routes.module.js';
import { ProxyModule } from './proxy/proxy.module.js';

/** The only public entry point; stateless (no database). */
@Module({
  imports: [
    ConfigModule.forService('gateway'),
    HealthModule.forRoot({ database: false }),
    ProxyModule,
    FaultRoutesModule,
  ],
})
export class AppModule {}
