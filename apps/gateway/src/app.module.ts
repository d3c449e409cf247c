import { Module } from '@nestjs/common';
import { ConfigModule } from '#lab/config';
import { HealthModule } from '#lab/health';
import { ObservabilityModule } from '#lab/observability';
import { FaultRoutesModule } from './faults/fault-routes.module.js';
import { PublicOpenApiModule } from './openapi/public-openapi.module.js';
import { ProxyModule } from './proxy/proxy.module.js';

/** The only public entry point; stateless (no database). */
@Module({
  imports: [
    ConfigModule.forService('gateway'),
    // Logs, traces, GET /metrics and /admin/faults.
    ObservabilityModule.forRoot(),
    HealthModule.forRoot({ database: false }),
    ProxyModule,
    FaultRoutesModule,
    PublicOpenApiModule,
  ],
})
export class AppModule {}
