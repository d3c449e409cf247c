import { type CanActivate, type ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AuthMetrics } from './auth.metrics.js';
import type { Principal } from './principal.js';

export const REQUIRED_SCOPES = 'lab:required-scopes';

/** 403 `insufficient_scope` unless the principal holds every scope the handler (or its class) requires. */
@Injectable()
export class ScopesGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly metrics: AuthMetrics,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const required =
      this.reflector.getAllAndOverride<string[] | undefined>(REQUIRED_SCOPES, [
        context.getHandler(),
        context.getClass(),
      ]) ?? [];
    const user = context.switchToHttp().getRequest<FastifyRequest & { user?: Principal }>().user;
    const missing = required.filter((scope) => !user?.scopes.includes(scope));
    if (missing.length === 0) return true;
    this.metrics.failures.inc({ reason: 'insufficient_scope' });
    context
      .switchToHttp()
      .getResponse<FastifyReply>()
      .header(
        'www-authenticate',
        `Bearer realm="observability-lab", error="insufficient_scope", scope="${required.join(' ')}"`,
      );
    throw new ForbiddenException(`requires scope ${missing.join(' ')}`);
  }
}
