import type { ModuleMetadata, Provider } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ConfigModule, type Env, loadConfig } from '#lab/config';
import { DatabaseModule } from '#lab/database';
import { TelemetryModule } from '#lab/telemetry';
import { OAUTH_ENTITIES } from '../src/entities.js';

/**
 * A testing module with the oauth entities on a database: an in-memory embedded store started for it,
 * or the one `env.MONGO_URL` names (to put two "instances" on one database).
 */
export async function databaseTestingModule(
  providers: Provider[],
  env: Env = {},
  imports: ModuleMetadata['imports'] = [],
): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ConfigModule.forConfig(loadConfig('oauth', env)),
      DatabaseModule.forRoot(OAUTH_ENTITIES),
      TypeOrmModule.forFeature(OAUTH_ENTITIES),
      TelemetryModule,
      ...imports,
    ],
    providers,
  }).compile();
  await moduleRef.init();
  return moduleRef;
}
