import { Injectable, Logger } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject } from '@nestjs/swagger';
import { type ServiceName } from '#lab/config';
import { ServiceClient } from '#lab/http-client';
import {
  INTERNAL_EXTENSION,
  OPENAPI_VERSION,
  OpenApiDocument,
  operationsOf,
  PROBLEM_MEDIA_TYPE,
  securitySchemes,
} from '#lab/openapi';
import { gatewayRoutes, type GatewayRoute, routeFor } from './route-table.js';

/** The backends whose documents make up the public API. */
export const DOCUMENTED_SERVICES: readonly ServiceName[] = ['oauth', 'customer', 'product', 'order'];
/** A backend's document is fetched again after this long (a redeployed service shows up within it). */
export const DOCUMENT_CACHE_MS = 30_000;

type Operation = ReturnType<typeof operationsOf>[number]['operation'];
type Responses = Operation['responses'];

const problem = (description: string, headers: Record<string, object> = {}) => ({
  description,
  headers,
  content: { [PROBLEM_MEDIA_TYPE]: { schema: { $ref: '#/components/schemas/ProblemResponse' } } },
});
const RETRY_AFTER = { 'Retry-After': { description: 'Seconds to wait.', schema: { type: 'integer' } } };
/** Declared once in components.headers; every answer of a rate-limited route refers to them. */
const RATE_LIMIT_HEADER_OBJECTS = {
  RateLimit: {
    description: 'IETF draft: requests left and seconds to the reset, e.g. `"default";r=99;t=42`.',
    schema: { type: 'string' },
  },
  'RateLimit-Policy': {
    description: 'IETF draft: the limit and window, e.g. `"default";q=100;w=60`.',
    schema: { type: 'string' },
  },
};
const RATE_LIMIT_HEADERS = {
  RateLimit: { $ref: '#/components/headers/RateLimit' },
  'RateLimit-Policy': { $ref: '#/components/headers/RateLimit-Policy' },
};

/** `/customers/me` on the customer service is `/api/customers/me` at the gateway; `/.well-known/*` stays. */
export const publicPath = (path: string): string => (path.startsWith('/.well-known/') ? path : `/api${path}`);

/** What the gateway itself adds to every answer of a route it forwards. */
function addGatewayResponses(operation: Operation, route: GatewayRoute): void {
  const responses: Responses = operation.responses;
  if (route.rateLimited) {
    responses['429'] ??= problem("Too Many Requests: over the gateway's rate limit (`code: rate_limited`)", {
      ...RETRY_AFTER,
      ...RATE_LIMIT_HEADERS,
    });
    for (const response of Object.values(responses)) {
      if (response && !('$ref' in response))
        response.headers = { ...response.headers, ...RATE_LIMIT_HEADERS };
    }
  }
  responses['400'] ??= problem(
    'Bad Request: a path the gateway will not forward as sent (`code: ambiguous_path`, `invalid_request`)',
  );
  responses['503'] ??= problem(
    'Service Unavailable: the service is down or its circuit breaker is open (`code: upstream_unavailable`, `circuit_open`)',
    RETRY_AFTER,
  );
  responses['504'] ??= problem(
    'Gateway Timeout: the service did not answer in time (`code: upstream_timeout`)',
  );
}

/**
 * The public API: every operation of the backends' documents that the gateway routes (never one marked
 * `x-internal`), under its public path, plus the gateway's own routes (the fault switch). The backends'
 * documents are fetched when asked for and kept {@link DOCUMENT_CACHE_MS}; a backend that cannot be
 * reached keeps its last document (or is left out until it answers, which is logged and marked).
 */
@Injectable()
export class PublicDocumentService {
  private readonly logger = new Logger(PublicDocumentService.name);
  private readonly routes = gatewayRoutes();
  private readonly cache = new Map<ServiceName, { document: OpenAPIObject; fetchedAt: number }>();

  constructor(
    private readonly http: ServiceClient,
    private readonly own: OpenApiDocument,
  ) {}

  async document(): Promise<OpenAPIObject> {
    const backends = await Promise.all(
      DOCUMENTED_SERVICES.map(async (service) => ({
        service,
        document: await this.backendDocument(service),
      })),
    );
    const missing = backends.filter(({ document }) => !document).map(({ service }) => service);
    return this.merge(
      backends.flatMap(({ document }) => (document ? [document] : [])),
      missing,
    );
  }

  /** Builds the public document from backend documents (a pure function of them and the route table). */
  merge(backends: readonly OpenAPIObject[], missing: readonly ServiceName[] = []): OpenAPIObject {
    const document = securitySchemes(
      new DocumentBuilder()
        .setOpenAPIVersion(OPENAPI_VERSION)
        .setTitle('Observability Lab API')
        .setDescription(
          'Everything the gateway routes. Sign in with **Authorize** (password flow; the admin is admin@lab.local / admin-password), ' +
            'then try any call. Errors are `application/problem+json` with a `code`; every answer carries `x-request-id`.' +
            (missing.length > 0
              ? `\n\n**Not listed right now** (could not be fetched): ${missing.join(', ')}.`
              : ''),
        )
        .setVersion('1'),
    ).build() as OpenAPIObject;
    document.paths = {};
    document.components = { ...document.components, schemas: {}, headers: { ...RATE_LIMIT_HEADER_OBJECTS } };
    if (missing.length > 0) Object.assign(document, { 'x-missing-services': [...missing] });
    for (const source of [...backends, this.own.get()]) {
      const own = source === this.own.get();
      Object.assign(document.components!.schemas!, source.components?.schemas);
      Object.assign(document.components!.headers!, source.components?.headers);
      for (const { path, method, operation } of operationsOf(source)) {
        if (Reflect.get(operation, INTERNAL_EXTENSION) === true) continue;
        const path_ = own ? path : publicPath(path);
        const route = routeFor(this.routes, method, path_);
        if (!route) continue;
        const copy = structuredClone(operation);
        addGatewayResponses(copy, route);
        const item = (document.paths[path_] ??= {});
        Object.assign(item, { [method]: copy });
      }
    }
    return document;
  }

  private async backendDocument(service: ServiceName): Promise<OpenAPIObject | undefined> {
    const cached = this.cache.get(service);
    if (cached && Date.now() - cached.fetchedAt < DOCUMENT_CACHE_MS) return cached.document;
    try {
      const { status, body } = await this.http.call<OpenAPIObject>(service, 'GET', '/openapi.json');
      if (status !== 200 || typeof body !== 'object' || body === null || !('paths' in body)) {
        throw new Error(`answered ${status}`);
      }
      this.cache.set(service, { document: body, fetchedAt: Date.now() });
      return body;
    } catch (error) {
      this.logger.warn(
        `the ${service} service's OpenAPI document could not be fetched (${error instanceof Error ? error.message : String(error)}); ${cached ? 'serving the last one' : 'its operations are left out'}`,
      );
      return cached?.document;
    }
  }
}
