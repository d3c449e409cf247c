import { type INestApplication, Inject, Injectable } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { Scope } from '#lab/auth';
import { BEARER_SCHEME, OAUTH2_SCHEME, PROBLEM_MEDIA_TYPE } from './api-docs.decorators.js';
import { ProblemResponse } from './problem.response.js';

export const OPENAPI_OPTIONS = Symbol('OPENAPI_OPTIONS');
export interface OpenApiOptions {
  readonly title: string;
  readonly description: string;
  /** Swagger UI at `path` showing the document at `documentUrl`, signing in at {@link TOKEN_URL}. */
  readonly ui?: { readonly path: string; readonly documentUrl: string; readonly clientId: string };
}

/** What each scope allows, as the password flow of Swagger UI lists them. */
export const SCOPE_DESCRIPTIONS: Record<string, string> = {
  [Scope.Profile]: 'own customer profile',
  [Scope.Orders]: 'place and see own orders',
  [Scope.Admin]: 'read every customer and order; fault switches; key rotation',
  [Scope.ProductsWrite]: 'create, change and delete products',
  [Scope.CustomersRead]: 'read any customer by id',
  [Scope.CustomersCreate]: 'internal: create a profile at sign-up (oauth)',
  [Scope.StockReserve]: 'internal: reserve and release stock (order service)',
};

export const OPENAPI_VERSION = '3.1.0';
export const TOKEN_URL = '/api/oauth/token';

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
type Operation = NonNullable<OpenAPIObject['paths'][string]['get']>;

/** Every operation of `document` with its path and method. */
export function operationsOf(
  document: OpenAPIObject,
): { path: string; method: string; operation: Operation }[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    HTTP_METHODS.flatMap((method) => (item[method] ? [{ path, method, operation: item[method] }] : [])),
  );
}

/** The bearer JWT and the OAuth2 password flow at the gateway's token endpoint. */
export function securitySchemes(builder: DocumentBuilder): DocumentBuilder {
  return builder
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description: 'An RS256 access token from `POST /api/oauth/token`.',
      },
      BEARER_SCHEME,
    )
    .addOAuth2(
      {
        type: 'oauth2',
        description:
          'Sign in with an e-mail and password (the public client `lab-web`; the admin is admin@lab.local).',
        flows: { password: { tokenUrl: TOKEN_URL, scopes: SCOPE_DESCRIPTIONS } },
      },
      OAUTH2_SCHEME,
    );
}

/**
 * What every answer has: the `x-request-id` header, and a 500 problem for what nobody planned. Applied
 * after the scan so no controller has to repeat it.
 */
export function addCommonResponses(document: OpenAPIObject): OpenAPIObject {
  document.components = {
    ...document.components,
    headers: {
      ...document.components?.headers,
      'x-request-id': {
        description:
          "The request id (the caller's when sane, else a new one); also in problem bodies and logs.",
        schema: { type: 'string' },
      },
    },
  };
  for (const { operation } of operationsOf(document)) {
    operation.responses['500'] ??= {
      description: 'Internal Server Error (quote the request id)',
      content: { [PROBLEM_MEDIA_TYPE]: { schema: { $ref: '#/components/schemas/ProblemResponse' } } },
    };
    for (const response of Object.values(operation.responses)) {
      if (!response || '$ref' in response) continue;
      response.headers = {
        'x-request-id': { $ref: '#/components/headers/x-request-id' },
        ...response.headers,
      };
    }
  }
  return document;
}

/**
 * The service's OpenAPI 3.1 document, built once from its controllers and DTOs (their decorators are the
 * only source) when first asked for. Internal endpoints are in it, marked `x-internal: true`.
 */
@Injectable()
export class OpenApiDocument {
  private app?: INestApplication;
  private document?: OpenAPIObject;

  constructor(@Inject(OPENAPI_OPTIONS) private readonly options: OpenApiOptions) {}

  attach(app: INestApplication): void {
    this.app = app;
    const { ui } = this.options;
    if (!ui) return;
    // Swagger UI (swagger-ui-dist, served by @fastify/static) loads the document from `documentUrl`
    // (an empty `spec` makes it fetch that URL rather than embed a copy).
    SwaggerModule.setup(
      ui.path,
      app,
      () => ({ openapi: OPENAPI_VERSION, info: { title: this.options.title, version: '1' }, paths: {} }),
      {
        raw: false,
        customSiteTitle: this.options.title,
        swaggerOptions: {
          url: ui.documentUrl,
          spec: {},
          persistAuthorization: false,
          displayRequestDuration: true,
          initOAuth: { clientId: ui.clientId, appName: this.options.title },
        },
      },
    );
  }

  get(): OpenAPIObject {
    if (!this.app) throw new Error('OpenApiDocument: no application attached (attachOpenApi(app))');
    this.document ??= addCommonResponses(
      SwaggerModule.createDocument(
        this.app,
        securitySchemes(
          new DocumentBuilder()
            .setOpenAPIVersion(OPENAPI_VERSION)
            .setTitle(this.options.title)
            .setDescription(this.options.description)
            .setVersion('1'),
        ).build(),
        { extraModels: [ProblemResponse] },
      ),
    );
    return this.document;
  }
}

/** Lets the OpenApiModule of `app`, if its AppModule imports one, build the document from `app`. */
export function attachOpenApi(app: INestApplication): void {
  let document: OpenApiDocument;
  try {
    document = app.get(OpenApiDocument, { strict: false });
  } catch {
    return; // this application does not document itself
  }
  document.attach(app);
}
