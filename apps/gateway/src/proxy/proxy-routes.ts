import { type AppConfig, PASSWORD_HASH_BOUND_MS, type ServiceName } from '#lab/config';
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  HTTPMethods,
  onRequestAsyncHookHandler,
} from 'fastify';
import type { RateLimiter } from '../rate-limit/rate-limiter.js';
import type { BearerAuth } from './bearer-auth.js';
import type { ForwardOptions, ProxyService } from './proxy.service.js';

/** One entry of the gateway's routing table: what it forwards, to which service, for whom. */
export interface ProxyRoute {
  /** `ALL`: every method Fastify knows. A GET route answers HEAD too. */
  readonly methods: readonly HTTPMethods[] | 'ALL';
  /** Gateway paths (Fastify syntax; `*` is the rest of the path). They are also the `http.route` label. */
  readonly paths: readonly string[];
  readonly service: ServiceName;
  /** `public`: anyone, counted by address; `protected`: a valid bearer token, counted by its subject. */
  readonly access: 'public' | 'protected';
  /** Sign-in and sign-up wait for a password hash: their timeout fits oauth's hashing queue ({@link hashingTimeoutMs}). */
  readonly waitsForHash?: true;
  /** The upstream gets the path as it is (`/.well-known/*`), not without its `/api` prefix. */
  readonly keepsPath?: true;
}

/**
 * Everything the gateway forwards. Anything not listed here or among the fault-switch routes
 * (internal endpoints included) is a 404. The backends verify tokens again and check scopes.
 */
export const PROXY_ROUTES: readonly ProxyRoute[] = [
  { methods: ['GET'], paths: ['/.well-known/*'], service: 'oauth', access: 'public', keepsPath: true },
  { methods: ['POST'], paths: ['/api/oauth/token'], service: 'oauth', access: 'public', waitsForHash: true },
  { methods: ['POST'], paths: ['/api/users'], service: 'oauth', access: 'public', waitsForHash: true },
  { methods: ['GET'], paths: ['/api/products', '/api/products/*'], service: 'product', access: 'public' },
  { methods: ['POST'], paths: ['/api/oauth/keys/rotate'], service: 'oauth', access: 'protected' },
  {
    methods: ['GET'],
    paths: ['/api/customers', '/api/customers/*'],
    service: 'customer',
    access: 'protected',
  },
  { methods: ['PATCH'], paths: ['/api/customers/me'], service: 'customer', access: 'protected' },
  { methods: ['POST'], paths: ['/api/products'], service: 'product', access: 'protected' },
  { methods: ['PATCH', 'DELETE'], paths: ['/api/products/*'], service: 'product', access: 'protected' },
  { methods: 'ALL', paths: ['/api/orders', '/api/orders/*'], service: 'order', access: 'protected' },
];

/**
 * The gateway's timeout for routes that wait for a password hash: at least as long as oauth may
 * legitimately take, the longest a hash may wait for a thread (`PASSWORD_HASH_MAX_WAIT_MS`; past it,
 * or past a full queue, oauth answers 503 `overloaded` at once) plus the hash itself, which oauth gives
 * {@link PASSWORD_HASH_BOUND_MS} before answering 503 too, and three times that to spare: on a machine
 * busy enough to make scrypt crawl, oauth's own work before the queue (reading the account) and its
 * answer wait for CPU too (CI saw 504s with one bound to spare). So a burst of sign-ins ends in oauth's fast 429s and 503s,
 * not in gateway timeouts that count against oauth's breaker. A longer upstream timeout for oauth
 * (`UPSTREAM_TIMEOUTS_MS=oauth=…`, else `UPSTREAM_TIMEOUT_MS`) wins.
 */
export function hashingTimeoutMs(config: AppConfig): number {
  const longestHash = config.oauth.passwordHashMaxWaitMs + 4 * PASSWORD_HASH_BOUND_MS;
  return Math.max(config.upstreamTimeoutsMs.oauth ?? config.upstreamTimeoutMs, longestHash);
}

/** `/api/x?y` → `/x?y` on the owning service. */
const withoutApiPrefix = (url: string) => url.replace(/^\/api(?=\/)/, '');

export interface ProxyRouteWiring {
  readonly proxy: ProxyService;
  readonly rateLimiter: RateLimiter;
  readonly auth: BearerAuth;
  readonly config: AppConfig;
}

/**
 * Registers {@link PROXY_ROUTES} as plain Fastify routes: a pass-through needs none of Nest's
 * per-request machinery (guards, interceptors, the observables around a handler), which cost the
 * gateway more CPU than the forwarding itself. Each route's `onRequest` hooks run after the global
 * ones (server span, request context, `x-request-id`, security headers): the rate limit first, then,
 * on a protected route, the bearer token. Errors thrown by a hook or the handler reach Fastify's error
 * handler, which Nest points at the one problem+json filter, as for any route.
 */
export function registerProxyRoutes(
  fastify: FastifyInstance,
  { proxy, rateLimiter, auth, config }: ProxyRouteWiring,
  routes: readonly ProxyRoute[] = PROXY_ROUTES,
): void {
  const hashing: ForwardOptions = { timeoutMs: hashingTimeoutMs(config) };
  const byAddress = rateLimiter.hook('address');
  const byToken = rateLimiter.hook('token');
  for (const route of routes) {
    const hooks: onRequestAsyncHookHandler[] = [];
    if (route.access === 'public' && byAddress) hooks.push(byAddress);
    if (route.access === 'protected') hooks.push(...(byToken ? [byToken] : []), auth.onRequest);
    const options = route.waitsForHash ? hashing : {};
    const handler = (request: FastifyRequest, reply: FastifyReply) =>
      proxy.forward(
        request,
        reply,
        route.service,
        route.keepsPath ? request.url : withoutApiPrefix(request.url),
        options,
      );
    const method = route.methods === 'ALL' ? fastify.supportedMethods : [...route.methods];
    for (const url of route.paths) fastify.route({ method, url, onRequest: hooks, handler });
  }
}
