import { STATUS_CODES } from 'node:http';
import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { retryAfterOf, UpstreamUnavailableError } from '#lab/http-client';
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

export function problem(request: FastifyRequest, status: number, detail?: string, extra: Record<string, unknown> = {}): ProblemDetails {
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

/**
 * `Retry-After` for an error caused by an open circuit breaker (seconds until its trial call), so
 * clients know when to come back; every service and the gateway answer it that way.
 */
export function setRetryAfter(reply: FastifyReply, exception: unknown): void {
  const seconds = retryAfterOf(exception);
  if (seconds !== undefined) void reply.header('retry-after', String(seconds));
}

export function sendProblem(reply: FastifyReply, body: ProblemDetails): void {
  void reply.status(body.status).type(PROBLEM_CONTENT_TYPE).send(body);
}

/** Every error of every service leaves as problem+json; no stack trace ever leaves the process. */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    setRetryAfter(reply, exception);
    sendProblem(reply, toProblem(exception, request, this.logger));
  }
}

export function toProblem(exception: unknown, request: FastifyRequest, logger: Logger): ProblemDetails {
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    const { message, ...rest } =
      typeof response === 'object' && response !== null ? (response as Record<string, unknown>) : { message: response };
    // Nest's default `error` is the status text (already the title); any other value is an extension,
    // such as RFC 6749's `error` code.
    const extensions = Object.fromEntries(
      Object.entries(rest).filter(
        ([key, value]) => !['statusCode', 'status', 'title'].includes(key) && !(key === 'error' && value === STATUS_CODES[status]),
      ),
    );
    if (Array.isArray(message)) return problem(request, status, 'the request is invalid', { errors: message.map(String), ...extensions });
    return problem(request, status, typeof message === 'string' ? message : undefined, extensions);
  }
  if (exception instanceof UpstreamUnavailableError) {
    // A call to another service failed and the handler let it through: the dependency is the problem.
    logger.warn(
      `${request.method} ${request.url.split('?')[0]} failed: ${exception.message} (request ${request.id})`,
    );
    const status = exception.reason === 'timeout' ? 504 : 503;
    const detail = `the ${exception.service} service is ${exception.reason === 'timeout' ? 'not answering in time' : 'unavailable'}; try again later`;
    return problem(request, status, detail, { code: exception.problemCode });
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
