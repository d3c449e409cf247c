import { All, Controller, Delete, Get, Patch, Post, Req, Res, UseInterceptors } from '@nestjs/common';
import { Authenticated } from '#lab/auth';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RateLimitInterceptor } from '../rate-limit/rate-limit.interceptor.js';
import { ProxyService } from './proxy.service.js';

/** `/api/x?y` → `/x?y` on the owning service. */
const upstreamPath = (request: FastifyRequest) => request.url.replace(/^\/api(?=\/)/, '');

/**
 * What the public may reach without a token. Each route names its service and methods; anything not
 * listed here or in {@link ProtectedRoutesController} (internal endpoints included) is a 404.
 */
@Controller()
@UseInterceptors(RateLimitInterceptor)
export class PublicRoutesController {
  constructor(private readonly proxy: ProxyService) {}

  @Get('.well-known/*')
  wellKnown(@Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.forward(request, reply, 'oauth', request.url);
  }

  @Post('api/oauth/token')
  token(@Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.forward(request, reply, 'oauth', upstreamPath(request));
  }

  @Post('api/users')
  signUp(@Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.forward(request, reply, 'oauth', upstreamPath(request));
  }

  @Get(['api/products', 'api/products/*'])
  browseProducts(@Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    return this.proxy.forward(request, reply, 'product', upstreamPath(request));
  }
}

/** Routes that need a valid bearer token at the gateway; the backend verifies it again and checks scopes. */
@Controller('api')
@Authenticated()
@UseInterceptors(RateLimitInterceptor)
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
