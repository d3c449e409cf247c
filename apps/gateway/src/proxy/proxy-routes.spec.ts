import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '#lab/config';
import type { RateLimiter } from '../rate-limit/rate-limiter.js';
import type { BearerAuth } from './bearer-auth.js';
import { hashingTimeoutMs, registerProxyRoutes } from './proxy-routes.js';
import type { ForwardOptions, ProxyService } from './proxy.service.js';

describe(hashingTimeoutMs.name, () => {
  it("outlasts oauth's longest hash wait plus the hash, and never shortens a longer upstream timeout", () => {
    expect(hashingTimeoutMs(loadConfig('gateway', {}))).toBe(6000);
    expect(hashingTimeoutMs(loadConfig('gateway', { UPSTREAM_TIMEOUT_MS: '500' }))).toBe(6000);
    expect(
      hashingTimeoutMs(
        loadConfig('gateway', { UPSTREAM_TIMEOUT_MS: '500', PASSWORD_HASH_MAX_WAIT_MS: '6000' }),
      ),
    ).toBe(10000);
    expect(hashingTimeoutMs(loadConfig('gateway', { UPSTREAM_TIMEOUTS_MS: 'oauth=20000' }))).toBe(20000);
  });
});

describe(registerProxyRoutes.name, () => {
  /** The routes on a bare Fastify, with what each hook and the proxy were called with recorded in `steps`. */
  async function routes() {
    const steps: string[] = [];
    const forwarded: { service: string; path: string; options: ForwardOptions | undefined }[] = [];
    const proxy = {
      forward: async (
        _request: FastifyRequest,
        reply: FastifyReply,
        service: string,
        path: string,
        options?: ForwardOptions,
      ) => {
        steps.push('forward');
        forwarded.push({ service, path, options });
        await reply.send('ok');
      },
    } as unknown as ProxyService;
    const rateLimiter = {
      hook: (kind: string) => async () => void steps.push(`rate limit by ${kind}`),
    } as unknown as RateLimiter;
    const auth = { onRequest: async () => void steps.push('bearer token') } as unknown as BearerAuth;
    const fastify = Fastify();
    const config = loadConfig('gateway', {});
    registerProxyRoutes(fastify, { proxy, rateLimiter, auth, config });
    await fastify.ready();
    return { fastify, steps, forwarded, config };
  }

  it('rate-limits public routes by address and forwards them without /api; sign-in waits for a hash', async () => {
    const { fastify, steps, forwarded, config } = await routes();

    await fastify.inject({ method: 'GET', url: '/api/products/p1?limit=1' });
    await fastify.inject({ method: 'POST', url: '/api/oauth/token', payload: '' });
    await fastify.inject({ method: 'GET', url: '/.well-known/jwks.json' });

    expect(steps).toEqual([
      'rate limit by address',
      'forward',
      'rate limit by address',
      'forward',
      'rate limit by address',
      'forward',
    ]);
    expect(forwarded).toEqual([
      { service: 'product', path: '/products/p1?limit=1', options: {} },
      { service: 'oauth', path: '/oauth/token', options: { timeoutMs: hashingTimeoutMs(config) } },
      { service: 'oauth', path: '/.well-known/jwks.json', options: {} },
    ]);
  });

  it('counts protected routes by token before checking the token, for every method of the orders routes', async () => {
    const { fastify, steps, forwarded } = await routes();

    await fastify.inject({ method: 'DELETE', url: '/api/orders/o1' });

    expect(steps).toEqual(['rate limit by token', 'bearer token', 'forward']);
    expect(forwarded).toEqual([{ service: 'order', path: '/orders/o1', options: {} }]);
  });

  it('routes nothing it does not list: internal endpoints are 404s', async () => {
    const { fastify, steps } = await routes();

    for (const url of ['/api/stock/reservations/o1', '/metrics', '/api/admin/faults/product']) {
      expect((await fastify.inject({ method: 'PUT', url })).statusCode).toBe(404);
    }
    expect((await fastify.inject({ method: 'POST', url: '/api/customers' })).statusCode).toBe(404);
    expect(steps).toEqual([]);
  });
});
