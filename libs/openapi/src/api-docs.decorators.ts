import { STATUS_CODES } from 'node:http';
import { applyDecorators, type Type } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiExtension,
  ApiExtraModels,
  ApiHeader,
  ApiOAuth2,
  ApiOkResponse,
  ApiResponse,
  getSchemaPath,
} from '@nestjs/swagger';
import { ProblemResponse } from './problem.response.js';

export const PROBLEM_MEDIA_TYPE = 'application/problem+json';
/** The security schemes every document declares: the same RS256 JWT, as a bearer token or via the password flow. */
export const BEARER_SCHEME = 'bearer';
export const OAUTH2_SCHEME = 'oauth2';
/** Marks an operation the gateway never routes (service-to-service or operations). */
export const INTERNAL_EXTENSION = 'x-internal';

/** Problem+json answers for these statuses, each with the shared {@link ProblemResponse} schema. */
export function ApiProblems(...statuses: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiExtraModels(ProblemResponse),
    ...statuses.map((status) =>
      ApiResponse({
        status,
        description: STATUS_CODES[status] ?? 'Error',
        content: { [PROBLEM_MEDIA_TYPE]: { schema: { $ref: getSchemaPath(ProblemResponse) } } },
        ...(status === 429 || status === 503
          ? {
              headers: {
                'Retry-After': {
                  description: 'Seconds to wait before trying again.',
                  schema: { type: 'integer' },
                },
              },
            }
          : {}),
      }),
    ),
  );
}

/**
 * A bearer token is required (401 without one), holding `scopes` (403 otherwise). Declared for both
 * schemes so Swagger UI sends the token whichever way the user signed in.
 */
export function ApiScopes(...scopes: string[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiBearerAuth(BEARER_SCHEME),
    ApiOAuth2(scopes, OAUTH2_SCHEME),
    ApiProblems(401, 403),
  );
}

/** An endpoint other services call; the gateway never routes it and its public document leaves it out. */
export function ApiInternal(): MethodDecorator & ClassDecorator {
  return ApiExtension(INTERNAL_EXTENSION, true);
}

/** `Idempotency-Key`, required: a retry with the same key and body replays the first answer. */
export function ApiIdempotencyKey(): MethodDecorator {
  return ApiHeader({
    name: 'Idempotency-Key',
    required: true,
    description:
      '1-255 visible ASCII characters, unique per intended operation; a retry with the same key and body replays the first answer.',
    schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' },
  });
}

/** A paginated listing of `item` (`items`, `page`, `limit`, `total`). */
export function ApiPageResponse(
  item: Type<unknown>,
  description = 'One page of the listing.',
): MethodDecorator {
  return applyDecorators(
    ApiExtraModels(item),
    ApiOkResponse({
      description,
      schema: {
        type: 'object',
        required: ['items', 'page', 'limit', 'total'],
        properties: {
          items: { type: 'array', items: { $ref: getSchemaPath(item) } },
          page: { type: 'integer', minimum: 1 },
          limit: { type: 'integer', minimum: 1 },
          total: { type: 'integer', minimum: 0 },
        },
      },
    }),
  );
}
