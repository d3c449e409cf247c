import { Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { AuthModule } from '#lab/auth';
import { HttpClientModule } from '#lab/http-client';
import type { FastifyInstance } from 'fastify';
import { ProtectedRoutesController, PublicRoutesController } from './proxy.controllers.js';
import { RateLimitModule } from '../rate-limit/rate-limit.module.js';
import { ProxyService } from './proxy.service.js';

@Module({
  imports: [AuthModule, HttpClientModule, RateLimitModule],
  controllers: [PublicRoutesController, ProtectedRoutesController],
  providers: [ProxyService],
  exports: [ProxyService],
})
export class ProxyModule implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  /** Bodies pass through untouched (any content type, as bytes); the body limit still applies (413). */
  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.removeAllContentTypeParsers();
    fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  }
}
