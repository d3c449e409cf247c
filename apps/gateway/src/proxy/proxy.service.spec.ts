import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { forwardedHeaders, isAmbiguousPath } from './proxy.service.js';

const requestWith = (headers: Record<string, string | string[]>) =>
  ({ id: 'req-1', ip: '127.0.0.2', protocol: 'http', headers }) as unknown as FastifyRequest;

describe(forwardedHeaders.name, () => {
  it('drops hop-by-hop headers, every proxy-* one and those the Connection header names', () => {
    const sent = forwardedHeaders(
      requestWith({
        host: 'localhost:3000',
        connection: 'keep-alive, X-Secret-Hop, authorization',
        'keep-alive': 'timeout=5',
        'proxy-authorization': 'Basic eA==',
        'proxy-connection': 'keep-alive',
        'proxy-anything': '1',
        te: 'trailers',
        trailer: 'x-checksum',
        'transfer-encoding': 'chunked',
        upgrade: 'h2c',
        expect: '100-continue',
        'http2-settings': 'AAMAAABkAAQAAP__',
        'x-secret-hop': 'hop',
        authorization: 'Bearer t',
        accept: 'application/json',
        'content-type': 'application/json',
      }),
    );
    expect(sent).toEqual({
      accept: 'application/json',
      'content-type': 'application/json',
      'x-request-id': 'req-1',
      'x-forwarded-for': '127.0.0.2',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'localhost:3000',
    });
  });

  it("replaces the client's own forwarding and identity headers with the gateway's", () => {
    const sent = forwardedHeaders(
      requestWith({
        'x-forwarded-for': '10.0.0.1',
        forwarded: 'for=10.0.0.1',
        'x-real-ip': '10.0.0.1',
        'x-user-id': 'admin',
        'x-internal-token': 'x',
        'x-request-id': 'mine',
        'content-length': '12',
        connection: 'x-forwarded-for',
      }),
    );
    expect(sent).toEqual({ 'x-request-id': 'req-1', 'x-forwarded-for': '127.0.0.2', 'x-forwarded-proto': 'http' });
  });
});

describe(isAmbiguousPath.name, () => {
  it('refuses fragments, dot segments (plain, encoded, ended by an encoded ? or # or by ;), backslashes and control characters', () => {
    for (const path of [
      '/api/products/../metrics',
      '/api/products/%2e%2e/metrics',
      '/api/products/.%2E/metrics',
      '/api/products/./1',
      '/api/products/..#',
      '/api/products/x#/../../metrics',
      '/api/products#frag',
      '/api/products/..%3f/metrics',
      '/api/products/%2e%2e%3F',
      '/api/products/..%23x/metrics',
      '/api/products/..;/metrics',
      '/api/products/a\\..\\metrics',
      '/api/products/%5c..%5cmetrics',
      '/api/products/%00',
      '/api/products/\u0001',
    ]) {
      expect(isAmbiguousPath(path), path).toBe(true);
    }
  });

  it('lets ordinary paths and queries through, dots in the query included', () => {
    for (const path of [
      '/api/products',
      '/api/products?q=..&limit=5',
      '/api/products?next=/../x',
      '/api/products/abc.def',
      '/api/products/...',
      '/api/products/%2e%2e%2e',
      '/.well-known/jwks.json',
    ]) {
      expect(isAmbiguousPath(path), path).toBe(false);
    }
  });
});
