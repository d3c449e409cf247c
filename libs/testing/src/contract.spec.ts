import { describe, expect, it } from 'vitest';
import { Contract, type OpenApiDocument } from './contract.js';

const problem = {
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/ProblemResponse' } } },
};
const DOCUMENT: OpenApiDocument = {
  openapi: '3.1.0',
  paths: {
    '/things/{id}': {
      get: {
        responses: {
          '200': { content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } } },
          '404': problem,
        },
      },
    },
    '/things/mine': {
      get: { responses: { '200': { content: { 'application/json': { schema: { type: 'array' } } } } } },
    },
  },
  components: {
    schemas: {
      Thing: {
        type: 'object',
        required: ['id', 'at'],
        properties: { id: { type: 'string' }, at: { type: 'string', format: 'date-time' } },
      },
      ProblemResponse: {
        type: 'object',
        required: ['status', 'request_id'],
        properties: { status: { type: 'integer' }, request_id: { type: 'string' }, code: { type: 'string' } },
      },
    },
  },
};
const JSON_TYPE = 'application/json; charset=utf-8';
const thing = JSON.stringify({ id: 'a', at: '2026-01-01T00:00:00.000Z' });

describe(Contract.name, () => {
  const contract = new Contract(DOCUMENT);

  it('accepts an answer of the documented shape, and a problem with extension members', () => {
    contract.assertMatches('GET', 'http://x/things/a?y=1', 200, JSON_TYPE, thing);
    contract.assertMatches(
      'GET',
      '/things/a',
      404,
      'application/problem+json',
      JSON.stringify({ status: 404, request_id: 'r', productId: 'p' }),
    );
    expect(contract.checked).toEqual(new Set(['GET /things/{id} 200', 'GET /things/{id} 404']));
  });

  it('prefers the literal path over a parameter', () => {
    contract.assertMatches('GET', '/things/mine', 200, JSON_TYPE, '[]');
    expect(() => contract.assertMatches('GET', '/things/mine', 200, JSON_TYPE, thing)).toThrow(
      /must be array/,
    );
  });

  it('refuses a field the document does not name, a missing one and a malformed date', () => {
    expect(() =>
      contract.assertMatches(
        'GET',
        '/things/a',
        200,
        JSON_TYPE,
        JSON.stringify({ id: 'a', at: '2026-01-01T00:00:00Z', extra: 1 }),
      ),
    ).toThrow(/additional properties/);
    expect(() =>
      contract.assertMatches('GET', '/things/a', 200, JSON_TYPE, JSON.stringify({ id: 'a' })),
    ).toThrow(/required property 'at'/);
    expect(() =>
      contract.assertMatches(
        'GET',
        '/things/a',
        200,
        JSON_TYPE,
        JSON.stringify({ id: 'a', at: 'yesterday' }),
      ),
    ).toThrow(/date-time/);
  });

  it('refuses an undocumented status, media type, method or path', () => {
    expect(() => contract.assertMatches('GET', '/things/a', 409, 'application/problem+json', '{}')).toThrow(
      /status 409 is not documented/,
    );
    expect(() => contract.assertMatches('GET', '/things/a', 200, 'text/html', '<p>')).toThrow(
      /media type text\/html/,
    );
    expect(() => contract.assertMatches('DELETE', '/things/a', 200, JSON_TYPE, thing)).toThrow(
      /no operation/,
    );
    expect(() => contract.assertMatches('GET', '/stuff', 200, JSON_TYPE, '{}')).toThrow(/no operation/);
    // A path no operation has may only be a "no such route" problem.
    contract.assertMatches(
      'GET',
      '/stuff',
      404,
      'application/problem+json',
      JSON.stringify({ status: 404, request_id: 'r' }),
    );
  });
});
