import { type ArgumentsHost, Catch, type ExceptionFilter, Logger } from '@nestjs/common';
import { sendProblem, toProblem } from '#lab/bootstrap';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PasswordHashingOverloaded } from './password-hasher.js';

/** 503 problem+json, `code: overloaded`, with `Retry-After`: the answer of a request shed by the hashing queue. */
@Catch(PasswordHashingOverloaded)
export class OverloadedFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: PasswordHashingOverloaded, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    void reply.header('retry-after', String(exception.retryAfterSeconds)).header('cache-control', 'no-store');
    sendProblem(reply, toProblem(exception, http.getRequest<FastifyRequest>(), this.logger));
  }
}
