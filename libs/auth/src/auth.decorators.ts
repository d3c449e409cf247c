import {
  applyDecorators,
  createParamDecorator,
  type ExecutionContext,
  SetMetadata,
  UseGuards,
} from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { JwtAuthGuard } from './jwt-auth.guard.js';
import type { Principal } from './principal.js';
import { REQUIRED_SCOPES, ScopesGuard } from './scopes.guard.js';

/** Requires these scopes (all of them); a method's list replaces its class's. */
export const RequireScopes = (...scopes: string[]) => SetMetadata(REQUIRED_SCOPES, scopes);

/** A verified bearer token (401 otherwise), holding the given scopes (403 otherwise). */
export const Authenticated = (...scopes: string[]) =>
  applyDecorators(
    UseGuards(JwtAuthGuard, ScopesGuard),
    ...(scopes.length > 0 ? [RequireScopes(...scopes)] : []),
  );

/** The {@link Principal} of the verified token. */
export const CurrentUser = createParamDecorator(
  (_data: unknown, context: ExecutionContext): Principal =>
    context.switchToHttp().getRequest<FastifyRequest & { user: Principal }>().user,
);
