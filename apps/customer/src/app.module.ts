import { Module } from '@nestjs/common';
import { ConfigModule } from '#lab/config';
import { DatabaseModule } from '#lab/database';
import { HealthModule } from '#lab/health';
import { Customer } from './customers/customer.entity.js';
import { CustomersModule } from './customers/customers.module.js';

@Module({
  imports: [
    ConfigModule.forService('customer'),
    DatabaseModule.forRoot([Customer]),
    HealthModule.forRoot({ database: true }),
    CustomersModule,
  ],
})
export class AppModule {}
