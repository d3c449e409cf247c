import { Module } from '@nestjs/common';
import { PassportModule } from '@nestjs/passport';
import { TelemetryModule } from '#lab/telemetry';
import { AuthMetrics } from './auth.metrics.js';
import { JwksKeyProvider } from './jwks-key-provider.js';
import { JwtAuthGuard } from './jwt-auth.guard.js';
import { JwtStrategy } from './jwt.strategy.js';
import { ScopesGuard } from './scopes.guard.js';
import { VerifiedTokens } from './verified-tokens.js';

/** Every service verifies tokens itself (nothing trusts a header the gateway could have been bypassed for). */
@Module({
  imports: [PassportModule, TelemetryModule],
  providers: [AuthMetrics, JwksKeyProvider, VerifiedTokens, JwtStrategy, JwtAuthGuard, ScopesGuard],
  exports: [AuthMetrics, JwksKeyProvider, VerifiedTokens, JwtAuthGuard, ScopesGuard],
})
export class AuthModule {}
