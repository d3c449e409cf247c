import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

/** The part of an OpenAPI 3.1 document the contract checks read. */
export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, OperationObject | unknown>>;
  components?: Record<string, unknown>;
}
interface OperationObject {
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
  [extension: string]: unknown;
}

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

/** Every operation of the document: `GET /api/customers/{id}`, with the operation object. */
export function operationsOf(
  document: OpenApiDocument,
): { method: string; path: string; operation: OperationObject }[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    HTTP_METHODS.flatMap((method) =>
      item[method]
        ? [{ method: method.toUpperCase(), path, operation: item[method] as OperationObject }]
        : [],
    ),
  );
}

/** `/api/orders/{id}/cancel` → a RegExp matching concrete paths; literal segments count for precedence. */
function templateMatcher(template: string): { pattern: RegExp; literals: number } {
  const segments = template.split('/');
  const source = segments
    .map((segment) => (/^\{[^}]+\}$/.test(segment) ? '[^/]+' : segment.replace(/[.*+?^$()|[\]\\]/g, '\\$&')))
    .join('/');
  return {
    pattern: new RegExp(`^${source}$`),
    literals: segments.filter((segment) => !segment.startsWith('{')).length,
  };
}

/**
 * Marks every object schema that lists its properties and says nothing about others as closed, so a field
 * the code answers but the document does not name fails the check (problem bodies declare themselves open).
 */
function closeObjects(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(closeObjects);
  if (typeof node !== 'object' || node === null) return;
  const schema = node as Record<string, unknown>;
  if (typeof schema.properties === 'object' && schema.additionalProperties === undefined) {
    const names = Object.keys(schema.properties as object);
    // RFC 9457 problem bodies carry extension members (`productId`, `available`, RFC 6749's `error`…).
    schema.additionalProperties = names.includes('request_id');
  }
  for (const value of Object.values(schema)) closeObjects(value);
}

/**
 * The OpenAPI contract of a running service: every answer a test gets is checked against the document's
 * schema for that operation, status and media type (ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses).
 */
export class Contract {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly operations;
  /** `METHOD path-template status` of every answer checked, for coverage reports. */
  readonly checked = new Set<string>();

  constructor(readonly document: OpenApiDocument) {
    const closed = structuredClone(document);
    closeObjects(closed.components);
    closeObjects(closed.paths);
    this.ajv.addFormat('date-time', {
      type: 'string',
      validate: (value: string) => !Number.isNaN(Date.parse(value)) && /T/.test(value),
    });
    this.ajv.addFormat('email', /^[^\s@]+@[^\s@]+$/);
    this.ajv.addSchema({ ...closed, $id: 'openapi.json' } as object);
    this.operations = operationsOf(document).map((entry) => ({ ...entry, ...templateMatcher(entry.path) }));
  }

  /** Loads `${baseUrl}/openapi.json`. */
  static async load(baseUrl: string): Promise<Contract> {
    const response = await fetch(`${baseUrl}/openapi.json`);
    if (response.status !== 200) throw new Error(`${baseUrl}/openapi.json answered ${response.status}`);
    return new Contract((await response.json()) as OpenApiDocument);
  }

  /** The operation serving `method` on the concrete `path` (literal segments win over parameters). */
  operationFor(method: string, path: string): { path: string; operation: OperationObject } | undefined {
    return this.operations
      .filter((entry) => entry.method === method.toUpperCase() && entry.pattern.test(path))
      .sort((a, b) => b.literals - a.literals)[0];
  }

  /**
   * Throws unless the answer is one the document describes: a documented operation (or, for a path no
   * operation has, a 404/405 problem), a documented status, a documented media type, a body of its schema.
   */
  assertMatches(method: string, url: string, status: number, contentType: string | null, body: string): void {
    const path = new URL(url, 'http://contract.invalid').pathname;
    const found = this.operationFor(method, path);
    const label = `${method.toUpperCase()} ${path} → ${status}`;
    if (!found) {
      // Not an operation: the only honest answer is "no such route" as a problem.
      if ((status === 404 || status === 405) && (contentType ?? '').startsWith('application/problem+json')) {
        this.validate('#/components/schemas/ProblemResponse', JSON.parse(body), label);
        return;
      }
      throw new Error(`${label}: no operation of the document serves ${method.toUpperCase()} ${path}`);
    }
    this.checked.add(`${method.toUpperCase()} ${found.path} ${status}`);
    const responses = found.operation.responses;
    const key = String(status) in responses ? String(status) : 'default' in responses ? 'default' : undefined;
    if (!key)
      throw new Error(
        `${label}: status ${status} is not documented for ${method.toUpperCase()} ${found.path} (documented: ${Object.keys(responses).join(', ')})`,
      );
    const content = responses[key].content;
    if (!content || body === '') {
      if (body !== '' && content === undefined && status !== 204)
        throw new Error(`${label}: a body where the document describes none`);
      return;
    }
    const mediaType = (contentType ?? '').split(';')[0].trim();
    if (!(mediaType in content))
      throw new Error(
        `${label}: media type ${mediaType || '(none)'} is not documented (documented: ${Object.keys(content).join(', ')})`,
      );
    if (!mediaType.includes('json')) return;
    const pointer = `#/paths/${escape(found.path)}/${method.toLowerCase()}/responses/${key}/content/${escape(mediaType)}/schema`;
    this.validate(pointer, JSON.parse(body), label);
  }

  /** Checks a fetch `Response` (its body read from a clone) and returns it untouched. */
  async check(method: string, url: string, response: Response): Promise<Response> {
    const body = await response.clone().text();
    this.assertMatches(method, url, response.status, response.headers.get('content-type'), body);
    return response;
  }

  /** A `fetch` that checks every answer it gets against the contract. */
  fetch = async (input: string | URL, init: RequestInit = {}): Promise<Response> => {
    const response = await fetch(input, init);
    return this.check(init.method ?? 'GET', String(input), response);
  };

  private validate(pointer: string, value: unknown, label: string): void {
    let validate = this.validators.get(pointer);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `openapi.json${pointer}` });
      this.validators.set(pointer, validate);
    }
    if (!validate(value)) {
      throw new Error(
        `${label}: the body does not match the document: ${this.ajv.errorsText(validate.errors)}\n${JSON.stringify(value).slice(0, 500)}`,
      );
    }
  }
}

/** JSON Pointer escaping of one segment (RFC 6901), as a URI fragment. */
const escape = (segment: string) => encodeURIComponent(segment.replace(/~/g, '~0').replace(/\//g, '~1'));
