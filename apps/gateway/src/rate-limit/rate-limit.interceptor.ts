import {
  type CallHandler,
  type ExecutionContext,
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
  Logger,
  type NestInterceptor,
  type OnModuleDestroy,
} from '@nestjs/common';
import type { Principal } from '#lab/auth';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sharedMetric } from '#lab/telemetry';
import { Counter } from 'prom-client';
import type { Observable } from 'rxjs';
import { type RateLimitStore, type WindowCount, windowEnd } from './rate-limit.store.js';

export const RATE_LIMIT_STORE = Symbol('RATE_LIMIT_STORE');
export const RATE_LIMITED_REQUESTS = 'rate_limited_requests_total';

function rateLimitedCounter(): Counter {
  return sharedMetric(
    RATE_LIMITED_REQUESTS,
    () => new Counter({ name: RATE_LIMITED_REQUESTS, help: 'Requests answered 429 by the rate limit.' }),
  );
}

/**
 * The gateway's per-client rate limit on every routed request: `RATE_LIMIT_REQUESTS` per fixed window
 * of `RATE_LIMIT_WINDOW_SECONDS`, per token subject (protected routes: this runs after the auth guard)
 * or else per client address. Every answer carries the IETF draft headers (`RateLimit-Policy`,
 * `RateLimit`); over the limit it is 429 with `Retry-After`, without calling any backend. Health,
 * metrics and admin endpoints are not routed requests, so never limited.
 */
@Injectable()
export class RateLimitInterceptor implements NestInterceptor, OnModuleDestroy {
  private readonly logger = new Logger('RateLimit');
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly policy: string;
  private readonly limited = rateLimitedCounter();

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(RATE_LIMIT_STORE) private readonly store: RateLimitStore | undefined,
  ) {
    this.limit = config.rateLimit.requests;
    this.windowMs = config.rateLimit.windowSeconds * 1000;
    this.policy = `"default";q=${this.limit};w=${config.rateLimit.windowSeconds}`;
    this.limited.inc(0);
  }

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (this.store === undefined) return next.handle();
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest & { user?: Principal }>();
    const reply = http.getResponse<FastifyReply>();
    const key = request.user ? `sub:${request.user.subject}` : `ip:${request.ip}`;
    const now = Date.now();
    let window: WindowCount;
    try {
      window = await this.store.hit(key, now);
    } catch (error) {
      // The shared store is down: let traffic through rather than refuse everyone.
      this.logger.warn(
        `rate-limit store failed, request let through: ${error instanceof Error ? error.message : String(error)}`,
      );
      window = { count: 0, resetAt: windowEnd(now, this.windowMs) };
    }
    const reset = Math.max(1, Math.ceil((window.resetAt - now) / 1000));
    void reply.header('ratelimit-policy', this.policy);
    void reply.header('ratelimit', `"default";r=${Math.max(0, this.limit - window.count)};t=${reset}`);
    if (window.count <= this.limit) return next.handle();

    this.limited.inc();
    // Once per client and window, not once per refused request.
    if (window.count === this.limit + 1) {
      this.logger.warn(
        `${key} went over ${this.limit} requests per ${this.windowMs / 1000} s: 429 for ${reset} s (request ${request.id})`,
      );
    }
    void reply.header('retry-after', String(reset));
    throw new HttpException(
      {
        message: `rate limit of ${this.limit} requests per ${this.windowMs / 1000} s exceeded; retry in ${reset} s`,
        code: 'rate_limited',
      },
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }

  async onModuleDestroy(): Promise<void> {
    await this.store?.close();
  }
}
