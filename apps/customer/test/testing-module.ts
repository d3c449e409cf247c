import { Test, type TestingModule } from '@nestjs/testing';
import { ConfigModule, type Env, loadConfig } from '#lab/config';
import { DatabaseModule } from '#lab/database';
import { TelemetryModule } from '#lab/telemetry';
import { Customer } from '../src/customers/customer.entity.js';
import { CustomersModule } from '../src/customers/customers.module.js';

/** The customers feature (CustomersModule: service, controller, token checks) on an in-memory embedded store. */
export async function customerTestingModule(env: Env = {}): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ConfigModule.forConfig(loadConfig('customer', env)),
      DatabaseModule.forRoot([Customer]),
      TelemetryModule,
      CustomersModule,
    ],
  }).compile();
  await moduleRef.init();
  return moduleRef;
}
