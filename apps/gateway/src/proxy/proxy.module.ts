import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { AuthModule } from '#lab/auth';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import { HttpClientModule } from '#lab/http-client';
import type { FastifyInstance } from 'fastify';
import { RATE_LIMIT_STORE, RateLimiter } from '../rate-limit/rate-limiter.js';
import { createRateLimitStore } from '../rate-limit/rate-limit.store.js';
import { BearerAuth } from './bearer-auth.js';
import { registerProxyRoutes } from './proxy-routes.js';
import { ProxyService } from './proxy.service.js';

/**
 * The gateway's forwarding: the routes of `PROXY_ROUTES` as plain Fastify routes with their
 * `onRequest` hooks (rate limit, bearer token), registered here once the application is created.
 */
@Module({
  imports: [AuthModule, HttpClientModule],
  providers: [
    ProxyService,
    BearerAuth,
    RateLimiter,
    { provide: RATE_LIMIT_STORE, inject: [APP_CONFIG], useFactory: createRateLimitStore },
  ],
  exports: [ProxyService],
})
export class ProxyModule implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly proxy: ProxyService,
    private readonly rateLimiter: RateLimiter,
    private readonly auth: BearerAuth,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    // Bodies pass through untouched (any content type, as bytes); the body limit still applies (413).
    fastify.removeAllContentTypeParsers();
    fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    registerProxyRoutes(fastify, {
      proxy: this.proxy,
      rateLimiter: this.rateLimiter,
      auth: this.auth,
      config: this.config,
    });
  }
}
