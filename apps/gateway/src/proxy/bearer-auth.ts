import { Injectable, UnauthorizedException } from '@nestjs/common';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { JwtAuthGuard } from '#lab/auth';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isObservable, lastValueFrom } from 'rxjs';

/**
 * The bearer token check of the protected proxy routes, as a Fastify `onRequest` hook: the services'
 * own {@link JwtAuthGuard} (same verification, same 401 with `WWW-Authenticate`, same
 * `auth_failures_total`), run on the request and reply without Nest's router around it. Sets
 * `request.user`; a request the rate limit already verified is not verified twice.
 */
@Injectable()
export class BearerAuth {
  constructor(private readonly guard: JwtAuthGuard) {}

  /** Resolves once `request.user` holds the verified token's principal; throws the 401 otherwise. */
  async verify(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const allowed = this.guard.canActivate(new ExecutionContextHost([request, reply]));
    if (!(await (isObservable(allowed) ? lastValueFrom(allowed) : allowed))) {
      throw new UnauthorizedException('missing bearer token');
    }
  }

  /** The `onRequest` hook of a protected route. */
  readonly onRequest = (request: FastifyRequest, reply: FastifyReply): Promise<void> =>
    this.verify(request, reply);
}
