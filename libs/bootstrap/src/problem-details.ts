import { STATUS_CODES } from 'node:http';
import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { LabError } from '#lab/errors';
import { currentTraceContext } from '#lab/telemetry';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/**
 * RFC 9457 problem details, with the request id and the trace id, so a user can quote them and we can
 * find the logs (Kibana) and the trace (Jaeger, Zipkin).
 */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance: string;
  request_id: string;
  trace_id?: string;
  errors?: string[];
  [extension: string]: unknown;
}

export function problem(
  request: FastifyRequest,
  status: number,
  detail?: string,
  extra: Record<string, unknown> = {},
): ProblemDetails {
  const traceId = currentTraceContext()?.traceId;
  return {
    type: 'about:blank',
    title: STATUS_CODES[status] ?? 'Error',
    status,
    ...(detail ? { detail } : {}),
    instance: request.url.split('?')[0],
    request_id: request.id,
    ...(traceId && { trace_id: traceId }),
    ...extra,
  };
}

/** An error's answer: the problem and the headers that go with it. */
export interface ProblemAnswer {
  readonly problem: ProblemDetails;
  /** `Retry-After` (and `Cache-Control: no-store`) when the error says when to come back. */
  readonly headers: Readonly<Record<string, string>>;
}

export function sendProblem(reply: FastifyReply, { problem, headers }: ProblemAnswer): void {
  void reply.status(problem.status).headers(headers).type(PROBLEM_CONTENT_TYPE).send(problem);
}

/**
 * The one place an error becomes an HTTP answer: a {@link LabError}'s code gives the status
 * (`ERROR_STATUS`), its message the detail, its details the extra fields, its `retryAfterSeconds` the
 * `Retry-After`; Nest's and Fastify's own exceptions (validation 400, router 404, 413, 415) keep their
 * status. Every error of every service leaves as problem+json; no stack trace ever leaves the process.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    sendProblem(http.getResponse<FastifyReply>(), this.answer(exception, http.getRequest<FastifyRequest>()));
  }

  answer(exception: unknown, request: FastifyRequest): ProblemAnswer {
    const retryAfter = exception instanceof LabError ? exception.retryAfterSeconds : undefined;
    const headers: Record<string, string> =
      retryAfter === undefined ? {} : { 'retry-after': String(retryAfter), 'cache-control': 'no-store' };
    return { problem: toProblem(exception, request, this.logger), headers };
  }
}

function toProblem(exception: unknown, request: FastifyRequest, logger: Logger): ProblemDetails {
  if (exception instanceof LabError) {
    if (exception.code === 'upstream_unavailable' || exception.code === 'upstream_timeout') {
      // A call to another service failed and the handler let it through: nobody has logged it yet.
      logger.warn(
        `${request.method} ${request.url.split('?')[0]} failed: ${exception.message} (request ${request.id})`,
      );
    }
    return problem(request, exception.status, exception.message, {
      code: exception.code,
      ...exception.details,
    });
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    const { message, ...rest } =
      typeof response === 'object' && response !== null
        ? (response as Record<string, unknown>)
        : { message: response };
    // Nest's default `error` is the status text (already the title); any other value is an extension,
    // such as RFC 6749's `error` code.
    const extensions = Object.fromEntries(
      Object.entries(rest).filter(
        ([key, value]) =>
          !['statusCode', 'status', 'title'].includes(key) &&
          !(key === 'error' && value === STATUS_CODES[status]),
      ),
    );
    if (Array.isArray(message))
      return problem(request, status, 'the request is invalid', {
        errors: message.map(String),
        ...extensions,
      });
    return problem(request, status, typeof message === 'string' ? message : undefined, extensions);
  }
  const fastifyError = exception as Partial<FastifyError>;
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode < 500) {
    return problem(request, fastifyError.statusCode, fastifyError.message);
  }
  logger.error(
    `unhandled error on ${request.method} ${request.url.split('?')[0]} (request ${request.id})`,
    exception instanceof Error ? exception.stack : String(exception),
  );
  return problem(request, 500, 'an unexpected error occurred; quote the request id when reporting it');
}
