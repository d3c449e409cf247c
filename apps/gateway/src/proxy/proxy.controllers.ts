import { All, Controller, Delete, Get, Inject, Patch, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Authenticated } from '#lab/auth';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RateLimited } from '../rate-limit/rate-limit.guard.js';
import { type ForwardOptions, ProxyService } from './proxy.service.js';

/** `/api/x?y` → `/x?y` on the owning service. */
const upstreamPath = (request: FastifyRequest) => request.url.replace(/^\/api(?=\/)/, '');

/** A pessimistic time for one password hash on a busy machine (scrypt takes ~0.25 s of a free core). */
const HASH_BOUND_MS = 1000;

/**
 * The gateway's timeout for routes that wait for a password hash: at least as long as oauth may
 * legitimately take, the longest a hash may wait for a thread (`PASSWORD_HASH_MAX_WAIT_MS`; past it,
 * or past a full queue, oauth answers 503 `overloaded` at once) plus the hash itself, at
 * {@link HASH_BOUND_MS} with room to spare. So a burst of sign-ins ends in oauth's fast 429s and 503s,
 * not in gateway timeouts that count against oauth's breaker. A longer upstream timeout for oauth
 * (`UPSTREAM_TIMEOUTS_MS=oauth=…`, else `UPSTREAM_TIMEOUT_MS`) wins.
 */
export function hashingTimeoutMs(config: AppConfig): number {
  const longestHash = config.oauth.passwordHashMaxWaitMs + 2 * HASH_BOUND_MS;
  return Math.max(config.upstreamTimeoutsMs.oauth ?? config.upstreamTimeoutMs, longestHash);
}

/**
 * What the public may reach without a token. Each route names its service and methods; anything not
 * listed here or in {@link ProtectedRoutesController} (internal endpoints included) is a 404.
 */
@Controller()
@RateLimited('address')
// Documented by the backends' own documents (the public document at /openapi.json merges them).
@ApiExcludeController()
export class PublicRoutesController {
  /** Sign-in and sign-up wait for a password hash: their timeout fits oauth's hashing queue. */
  private readonly hashing: ForwardOptions;

  constructor(
    private readonly proxy: ProxyService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.hashing = { timeoutMs: hashingTimeoutMs(config) };
  }

  @Get('.well-known/*')
  wellKnown(@Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.forward(request, reply, 'oauth', request.url);
  }

  @Post('api/oauth/token')
  token(@Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.forward(request, reply, 'oauth', upstreamPath(request), this.hashing);
  }

  @Post('api/users')
  signUp(@Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.forward(request, reply, 'oauth', upstreamPath(request), this.hashing);
  }

  @Get(['api/products', 'api/products/*'])
  browseProducts(@Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.forward(request, reply, 'product', upstreamPath(request));
  }
}

/** Routes that need a valid bearer token at the gateway; the backend verifies it again and checks scopes. */
@Controller('api')
@Authenticated()
@RateLimited('token')
@ApiExcludeController()
export class ProtectedRoutesController {
  constructor(private readonly proxy: ProxyService) {}

  @Post('oauth/keys/rotate')
  rotateKeys(@Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.forward(request, reply, 'oauth', upstreamPath(request));
  }

  @Get(['customers', 'customers/*'])
  readCustomers(@Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.forward(request, reply, 'customer', upstreamPath(request));
  }

  @Patch('customers/me')
  updateProfile(@Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.forward(request, reply, 'customer', upstreamPath(request));
  }

  @Post('products')
  createProduct(@Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.forward(request, reply, 'product', upstreamPath(request));
  }

  @Patch('products/*')
  updateProduct(@Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.forward(request, reply, 'product', upstreamPath(request));
  }

  @Delete('products/*')
  deleteProduct(@Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.forward(request, reply, 'product', upstreamPath(request));
  }

  @All(['orders', 'orders/*'])
  orders(@Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.forward(request, reply, 'order', upstreamPath(request));
  }
}
