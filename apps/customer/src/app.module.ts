import { Module } from '@nestjs/common';
import { ConfigModule } from '#lab/config';
import { DatabaseModule } from '#lab/database';
import { HealthModule } from '#lab/health';
import { ObservabilityModule } from '#lab/observability';
import { OpenApiModule } from '#lab/openapi';
import { Customer } from './customers/customer.entity.js';
import { CustomersModule } from './customers/customers.module.js';
import { OrderSummaryModule } from './order-summary/order-summary.module.js';

@Module({
  imports: [
    ConfigModule.forService('customer'),
    // Logs, traces, GET /metrics and /admin/faults.
    ObservabilityModule.forRoot(),
    DatabaseModule.forRoot([Customer]),
    HealthModule.forRoot({ database: true }),
    CustomersModule,
    OrderSummaryModule,
    OpenApiModule.forService({
      title: 'customer',
      description: 'Customer profiles (internal: the profile created at sign-up).',
    }),
  ],
})
export class AppModule {}
