import { Module } from '@nestjs/common';
import { AuthModule } from '#lab/auth';
import { ConfigModule } from '#lab/config';
import { DatabaseModule } from '#lab/database';
import { HealthModule } from '#lab/health';
import { OpenApiModule } from '#lab/openapi';
import { ObservabilityModule } from '#lab/observability';
import { ClientsModule } from './clients/clients.module.js';
import { DefaultSecretsWarning } from './default-secrets.warning.js';
import { OAUTH_ENTITIES } from './entities.js';
import { KeysModule } from './keys/keys.module.js';
import { TokensModule } from './tokens/tokens.module.js';
import { UsersModule } from './users/users.module.js';

@Module({
  imports: [
    ConfigModule.forService('oauth'),
    // Logs, traces, GET /metrics and /admin/faults.
    ObservabilityModule.forRoot(),
    DatabaseModule.forRoot(OAUTH_ENTITIES),
    HealthModule.forRoot({ database: true }),
    OpenApiModule.forService({
      title: 'oauth',
      description: 'Users, tokens (RFC 6749), signing keys (JWKS) and OpenID discovery.',
    }),
    AuthModule,
    KeysModule,
    ClientsModule,
    UsersModule,
    TokensModule,
  ],
  providers: [DefaultSecretsWarning],
})
export class AppModule {}
