import { STATUS_CODES } from 'node:http';
import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import { ProblemDetailsFilter } from '#lab/bootstrap';
import { LabError } from '#lab/errors';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type OAuthErrorCode, OAuthException } from './oauth.exception.js';

function codeFor(status: number): OAuthErrorCode {
  if (status === 401) return 'invalid_client';
  if (status === 503) return 'temporarily_unavailable';
  return status >= 500 ? 'server_error' : 'invalid_request';
}

/**
 * The token endpoint answers RFC 6749 errors as `application/json`, as §5.2 requires, instead of the
 * lab's problem+json: OAuth clients check the type (oauth4webapi rejects any other for a 4xx). The
 * status, the problem fields (with the request id) and `Retry-After` come from the shared
 * {@link ProblemDetailsFilter}; this filter adds `error` and `error_description` and sets the type.
 * Load shedding (`overloaded`) is not an OAuth error: it is answered as every service answers it.
 */
@Catch()
export class TokenErrorFilter implements ExceptionFilter {
  private readonly problems = new ProblemDetailsFilter();

  catch(exception: unknown, host: ArgumentsHost): void {
    if (exception instanceof LabError && exception.code === 'overloaded')
      return this.problems.catch(exception, host);
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const { problem, headers } = this.problems.answer(exception, http.getRequest<FastifyRequest>());
    const error = exception instanceof OAuthException ? exception.code : codeFor(problem.status);
    const description =
      exception instanceof OAuthException
        ? exception.description
        : (problem.errors?.join('; ') ?? problem.detail ?? STATUS_CODES[problem.status] ?? 'error');
    void reply.headers(headers);
    if (exception instanceof OAuthException) void reply.headers(exception.headers);
    void reply
      .status(problem.status)
      .header('cache-control', 'no-store')
      .type('application/json')
      .send({ ...problem, error, error_description: description });
  }
}
