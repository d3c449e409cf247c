import { Inject, Injectable, Logger, type OnModuleDestroy, UnauthorizedException } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import { LabError } from '#lab/errors';
import { Metrics } from '#lab/telemetry';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Counter } from 'prom-client';
import type { Principal } from '#lab/auth';
import { BearerAuth } from '../proxy/bearer-auth.js';
import { type RateLimitStore, type WindowCount, windowEnd } from './rate-limit.store.js';

export const RATE_LIMIT_STORE = Symbol('RATE_LIMIT_STORE');
export const RATE_LIMITED_REQUESTS = 'rate_limited_requests_total';

/**
 * Who a request counts against: `address`, the client's address (public routes); `token`, the verified
 * token's subject, or the address when the token is missing or does not verify (protected routes).
 */
export type RateLimitKind = 'address' | 'token';

/** Whose count went over the limit: a token subject, an address, or an address sending no valid token to a protected route. */
export const LIMITED_REASONS = ['subject', 'address', 'unauthenticated'] as const;
type LimitedReason = (typeof LIMITED_REASONS)[number];

/**
 * The gateway's per-client rate limit on every proxied request: `RATE_LIMIT_REQUESTS` per fixed window
 * of `RATE_LIMIT_WINDOW_SECONDS`, as the first `onRequest` hook of each proxy route ({@link hook}), so
 * before authentication: on a protected route it verifies the token itself (the route's
 * {@link BearerAuth} hook then finds the request verified) and counts the request against the token's
 * subject, or, when the token is missing or does not verify, against the client's address, so a storm
 * of bad tokens is refused with 429 like any other. Every answer carries the IETF draft headers
 * (`RateLimit-Policy`, `RateLimit`); over the limit it is 429 with `Retry-After`, without calling any
 * backend. Health, metrics and the fault switch are not proxy routes, so never limited.
 */
@Injectable()
export class RateLimiter implements OnModuleDestroy {
  private readonly logger = new Logger('RateLimit');
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly policy: string;
  private readonly limited: Counter<'reason'>;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(RATE_LIMIT_STORE) private readonly store: RateLimitStore | undefined,
    private readonly auth: BearerAuth,
    metrics: Metrics,
  ) {
    this.limited = metrics.counter({
      name: RATE_LIMITED_REQUESTS,
      help: 'Requests answered 429 by the rate limit, by whose count was over: a token subject, an address (anonymous), or an address whose requests failed authentication (unauthenticated).',
      labelNames: ['reason'],
      known: { reason: LIMITED_REASONS },
    });
    this.limit = config.rateLimit.requests;
    this.windowMs = config.rateLimit.windowSeconds * 1000;
    this.policy = `"default";q=${this.limit};w=${config.rateLimit.windowSeconds}`;
  }

  /** The `onRequest` hook counting a route's requests by `kind`; none when the limit is off (`RATE_LIMIT_REQUESTS=0`). */
  hook(kind: RateLimitKind): ((request: FastifyRequest, reply: FastifyReply) => Promise<void>) | undefined {
    if (this.store === undefined) return undefined;
    return kind === 'address'
      ? (request, reply) => this.count(`ip:${request.ip}`, 'address', request, reply)
      : (request, reply) => this.countVerified(request, reply);
  }

  private async countVerified(
    request: FastifyRequest & { user?: Principal },
    reply: FastifyReply,
  ): Promise<void> {
    try {
      await this.auth.verify(request, reply);
    } catch (error) {
      if (!(error instanceof UnauthorizedException)) throw error;
      // Counted like any request from that address; over the limit the 429 replaces the 401.
      try {
        await this.count(`ip:${request.ip}`, 'unauthenticated', request, reply);
      } catch (limited) {
        reply.removeHeader('www-authenticate');
        throw limited;
      }
      throw error;
    }
    await this.count(`sub:${(request.user as Principal).subject}`, 'subject', request, reply);
  }

  /** Counts one request for `key`; sets the RateLimit headers; throws the 429 over the limit. */
  private async count(
    key: string,
    reason: LimitedReason,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<void> {
    const store = this.store as RateLimitStore;
    const now = Date.now();
    let window: WindowCount;
    try {
      window = await store.hit(key, now);
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
    if (window.count <= this.limit) return;

    this.limited.inc({ reason });
    // Once per client and window, not once per refused request.
    if (window.count === this.limit + 1) {
      this.logger.warn({
        message: `${key} went over ${this.limit} requests per ${this.windowMs / 1000} s${reason === 'unauthenticated' ? ' (failing authentication)' : ''}: 429 for ${reset} s (request ${request.id})`,
        'rate_limit.reason': reason,
      });
    }
    throw new LabError(
      'rate_limited',
      `rate limit of ${this.limit} requests per ${this.windowMs / 1000} s exceeded; retry in ${reset} s`,
      { retryAfterSeconds: reset },
    );
  }

  async onModuleDestroy(): Promise<void> {
    await this.store?.close();
  }
}
