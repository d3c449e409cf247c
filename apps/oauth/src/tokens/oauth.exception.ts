import { STATUS_CODES } from 'node:http';
import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { setRetryAfter, toProblem } from '#lab/bootstrap';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { OverloadedFilter } from '../hashing/overloaded.filter.js';
import { PasswordHashingOverloaded } from '../hashing/password-hasher.js';

/** RFC 6749 §5.2 error codes. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'server_error'
  | 'temporarily_unavailable';

/** An RFC 6749 error: the response object carries `error` and `error_description`. */
export class OAuthException extends HttpException {
  constructor(
    readonly code: OAuthErrorCode,
    readonly description: string,
    status = 400,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super({ error: code, error_description: description }, status);
  }

  /** 401 with the Basic challenge RFC 6749 §5.2 asks for. */
  static invalidClient(description: string): OAuthException {
    return new OAuthException('invalid_client', description, 401, { 'www-authenticate': 'Basic realm="observability-lab"' });
  }
}

function codeFor(status: number): OAuthErrorCode {
  if (status === 401) return 'invalid_client';
  if (status === 503) return 'temporarily_unavailable';
  return status >= 500 ? 'server_error' : 'invalid_request';
}

/**
 * The token endpoint answers RFC 6749 errors as `application/json`, as §5.2 requires, instead of the
 * lab's problem+json: OAuth clients check the type (oauth4webapi rejects any other for a 4xx). The body still
 * holds the problem fields (with the request id) next to `error` and `error_description`, and the
 * shared conversion, so a 500 is logged and never shows a stack trace.
 */
@Catch()
export class OAuthExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  private readonly overloaded = new OverloadedFilter();

  catch(exception: unknown, host: ArgumentsHost): void {
    // Not an OAuth error: the server sheds load, as every service answers it (problem+json, Retry-After).
    if (exception instanceof PasswordHashingOverloaded) return this.overloaded.catch(exception, host);
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    setRetryAfter(reply, exception);
    const problem = toProblem(exception, request, this.logger);
    const error = exception instanceof OAuthException ? exception.code : codeFor(problem.status);
    const description =
      exception instanceof OAuthException ? exception.description : (problem.errors?.join('; ') ?? problem.detail ?? STATUS_CODES[problem.status] ?? 'error');
    if (exception instanceof OAuthException) {
      for (const [name, value] of Object.entries(exception.headers)) reply.header(name, value);
    }
    void reply
      .status(problem.status)
      .header('cache-control', 'no-store')
      .type('application/json')
      .send({ ...problem, error, error_description: description });
  }
}
