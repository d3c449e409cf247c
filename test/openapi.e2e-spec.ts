// The OpenAPI documents hold the contract: the public one at the gateway lists exactly what the gateway
// routes (never an internal endpoint), each backend documents itself with its internal endpoints marked,
// the Postman collection uses only documented operations, and the description stays readable while
// faults are injected and past the rate limit.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Contract, type OpenApiDocument, operationsOf, type RunningLab, startLab } from '#lab/testing';
import { concretePath, gatewayRoutes, routeFor } from '../apps/gateway/src/openapi/route-table.js';

const ADMIN = { username: 'admin@lab.local', password: 'admin-password' };
const COLLECTION = join(import.meta.dirname, '../postman/observability-lab.postman_collection.json');
/** Low enough that a burst of document requests would pass it if they were counted. */
const RATE_LIMIT_REQUESTS = 20;

interface PostmanItem {
  name: string;
  item?: PostmanItem[];
  request?: { method: string; url: string | { raw: string } };
}

const requestsOf = (items: PostmanItem[]): { name: string; method: string; path: string }[] =>
  items.flatMap((item) => {
    if (item.item) return requestsOf(item.item);
    if (!item.request) return [];
    const raw = typeof item.request.url === 'string' ? item.request.url : item.request.url.raw;
    const path = raw
      .replace('{{baseUrl}}', '')
      .split('?')[0]
      .replace(/\{\{\w+\}\}/g, 'x');
    return [{ name: item.name, method: item.request.method, path }];
  });

describe('OpenAPI documents (one lab)', () => {
  let lab: RunningLab;
  let contract: Contract;

  beforeAll(async () => {
    lab = await startLab({ RATE_LIMIT_REQUESTS: String(RATE_LIMIT_REQUESTS) });
    contract = await Contract.load(lab.urls.gateway);
  }, 60_000);

  afterAll(async () => {
    await lab?.stop();
  });

  it('lists every route the gateway has, and no path the gateway does not route', () => {
    const routes = gatewayRoutes();
    const operations = operationsOf(contract.document);
    expect(contract.document.openapi).toBe('3.1.0');
    expect(routes.length).toBeGreaterThan(10);
    const undocumented = routes.filter(
      (route) =>
        !operations.some(
          ({ method, path }) =>
            (route.method === 'ALL' || route.method === method) && route.pattern.test(concretePath(path)),
        ),
    );
    expect(undocumented.map(({ method, path }) => `${method} ${path}`)).toEqual([]);
    const unrouted = operations.filter(({ method, path }) => !routeFor(routes, method, path));
    expect(unrouted.map(({ method, path }) => `${method} ${path}`)).toEqual([]);
    expect(operations.length).toBeGreaterThanOrEqual(20);
  });

  it('never lists an internal endpoint; each backend marks its own internal ones', async () => {
    const operations = operationsOf(contract.document);
    expect(operations.filter(({ operation }) => operation['x-internal'] === true)).toEqual([]);
    expect(
      operations
        .map(({ path }) => path)
        .filter((path) => /^\/api\/(stock|health|metrics)|^\/(health|metrics|admin)/.test(path)),
    ).toEqual([]);
    expect(contract.operationFor('POST', '/api/customers')).toBeUndefined();

    const internal: string[] = [];
    for (const service of ['oauth', 'customer', 'product', 'order'] as const) {
      const document = (await (await fetch(`${lab.urls[service]}/openapi.json`)).json()) as OpenApiDocument;
      expect(document.openapi).toBe('3.1.0');
      for (const { method, path, operation } of operationsOf(document)) {
        if (operation['x-internal'] === true) internal.push(`${service} ${method} ${path}`);
      }
    }
    expect(internal).toEqual(
      expect.arrayContaining([
        'customer POST /customers',
        'product PUT /stock/reservations/{orderId}',
        'product DELETE /stock/reservations/{orderId}',
        'order GET /health/ready',
        'oauth GET /metrics',
        'product PUT /admin/faults',
      ]),
    );
  });

  it('describes security, problem bodies with a code, and the headers', () => {
    const { components } = contract.document as {
      components: Record<string, Record<string, Record<string, unknown>>>;
    };
    expect(components.securitySchemes.oauth2).toMatchObject({
      type: 'oauth2',
      flows: { password: { tokenUrl: '/api/oauth/token' } },
    });
    expect(components.securitySchemes.bearer).toMatchObject({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    });
    expect(Object.keys(components.schemas.ProblemResponse.properties as object)).toEqual(
      expect.arrayContaining(['type', 'title', 'status', 'request_id', 'code']),
    );
    const placeOrder = contract.operationFor('POST', '/api/orders')?.operation as unknown as {
      parameters: { name: string; in: string; required: boolean }[];
      security: Record<string, string[]>[];
      responses: Record<string, { headers?: Record<string, unknown> }>;
    };
    expect(placeOrder.parameters).toContainEqual(
      expect.objectContaining({ name: 'Idempotency-Key', in: 'header', required: true }),
    );
    expect(placeOrder.security).toContainEqual({ oauth2: ['orders'] });
    expect(Object.keys(placeOrder.responses['201'].headers ?? {})).toEqual(
      expect.arrayContaining(['x-request-id', 'RateLimit', 'RateLimit-Policy']),
    );
    expect(Object.keys(placeOrder.responses['429'].headers ?? {})).toEqual(
      expect.arrayContaining(['Retry-After']),
    );
    expect(Object.keys(placeOrder.responses['409'] ?? {})).toContain('content');
  });

  it('uses only documented operations in the Postman collection', () => {
    const collection = JSON.parse(readFileSync(COLLECTION, 'utf8')) as { item: PostmanItem[] };
    const requests = requestsOf(collection.item);
    expect(requests.length).toBeGreaterThan(40);
    const unknown = requests.filter(({ method, path }) => !contract.operationFor(method, path));
    expect(unknown.map(({ name, method, path }) => `${name}: ${method} ${path}`)).toEqual([]);
  });

  it('serves the description while every request to the gateway fails, and outside its rate limit', async () => {
    const token = await fetch(`${lab.urls.gateway}/api/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', ...ADMIN }).toString(),
    }).then(
      async (response) =>
        (
          (await contract.check('POST', '/api/oauth/token', response).then((r) => r.json())) as {
            access_token: string;
          }
        ).access_token,
    );
    const faults = (method: string, body?: object) =>
      contract.fetch(`${lab.urls.gateway}/api/admin/faults/gateway`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body && { body: JSON.stringify(body) }),
      });
    expect((await faults('PUT', { errorRatio: 1 })).status).toBe(200);
    try {
      expect((await contract.fetch(`${lab.urls.gateway}/api/products`)).status).toBe(500);
      for (let i = 0; i < RATE_LIMIT_REQUESTS + 5; i++) {
        const [document, page] = await Promise.all([
          fetch(`${lab.urls.gateway}/openapi.json`),
          fetch(`${lab.urls.gateway}/docs`),
        ]);
        expect([document.status, page.status]).toEqual([200, 200]);
        expect(document.headers.get('ratelimit')).toBeNull();
        await Promise.all([document.arrayBuffer(), page.arrayBuffer()]);
      }
    } finally {
      expect((await faults('DELETE')).status).toBe(200);
    }
    expect((await contract.fetch(`${lab.urls.gateway}/api/products`)).status).toBe(200);
  });
});
