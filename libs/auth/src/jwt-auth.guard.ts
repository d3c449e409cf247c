import { type ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { AuthGuard } from '@nestjs/passport';
import type { FastifyReply } from 'fastify';
import type { Observable } from 'rxjs';
import { AuthMetrics } from './auth.metrics.js';
import { TokenRejected } from './token-rejected.js';
import type { Principal } from './principal.js';
import { bearerToken, VerifiedTokens } from './verified-tokens.js';

/** Why a token was refused, in words safe to return (jsonwebtoken's messages minus expected values). */
export function rejectionReason(error: unknown, info: unknown): string {
  if (error instanceof TokenRejected) return error.reason;
  const cause = error ?? info;
  if (!(cause instanceof Error)) return 'missing bearer token';
  if (cause.message === 'No auth token') return 'missing bearer token';
  if (cause.name === 'TokenExpiredError') return 'token expired';
  if (cause.name === 'NotBeforeError') return 'token not yet valid';
  return cause.message.split('.')[0].replace(/^jwt /, 'token ');
}

/** 401 with `WWW-Authenticate` (RFC 6750) unless the bearer token verifies; sets `request.user`. */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  constructor(
    private readonly metrics: AuthMetrics,
    private readonly verified: VerifiedTokens,
  ) {
    super();
  }

  /**
   * A request an earlier guard already verified (the gateway's rate limit) is not verified twice, nor
   * is a token this process verified before that would verify now ({@link VerifiedTokens}).
   */
  override canActivate(context: ExecutionContext): boolean | Promise<boolean> | Observable<boolean> {
    const request = context
      .switchToHttp()
      .getRequest<{ user?: Principal; headers: Record<string, string | string[] | undefined> }>();
    if (request.user) return true;
    const token = bearerToken(request.headers.authorization);
    const principal = token === undefined ? undefined : this.verified.principalOf(token);
    if (principal) {
      request.user = principal;
      return true;
    }
    return super.canActivate(context);
  }

  override handleRequest<TUser = Principal>(
    error: unknown,
    user: TUser | false,
    info: unknown,
    context: ExecutionContext,
  ): TUser {
    if (user && !error) return user;
    const reason = rejectionReason(error, info);
    this.metrics.failures.inc({
      reason:
        reason === 'missing bearer token'
          ? 'missing_token'
          : reason === 'token expired'
            ? 'expired'
            : 'invalid_token',
    });
    const challenge =
      reason === 'missing bearer token'
        ? 'Bearer realm="observability-lab"'
        : `Bearer realm="observability-lab", error="invalid_token", error_description="${reason.replace(/"/g, "'")}"`;
    context.switchToHttp().getResponse<FastifyReply>().header('www-authenticate', challenge);
    throw new UnauthorizedException(reason);
  }
}
