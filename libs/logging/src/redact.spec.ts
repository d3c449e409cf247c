import { describe, expect, it } from 'vitest';
import { REDACTED, redact, redactText } from './redact.js';

const JWT =
  'eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1c2VyLTEiLCJzY29wZSI6Im9yZGVycyJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg';

describe(redact.name, () => {
  it('replaces the values of secret-looking keys at any depth', () => {
    const input = {
      user: { email: 'a@example.com', password: 'hunter2' },
      request: {
        headers: { authorization: `Bearer ${JWT}`, Cookie: 'sid=1', 'x-api-key': 'k', accept: 'json' },
      },
      body: {
        grant_type: 'password',
        client_secret: 's',
        refresh_token: 'r',
        access_token: 'a',
        apiKey: 'k',
      },
      list: [{ newPassword: 'p', id: 1 }],
    };
    expect(redact(input)).toEqual({
      user: { email: 'a@example.com', password: REDACTED },
      request: {
        headers: { authorization: REDACTED, Cookie: REDACTED, 'x-api-key': REDACTED, accept: 'json' },
      },
      body: {
        grant_type: 'password',
        client_secret: REDACTED,
        refresh_token: REDACTED,
        access_token: REDACTED,
        apiKey: REDACTED,
      },
      list: [{ newPassword: REDACTED, id: 1 }],
    });
  });

  it('replaces whole objects under a secret key, and never mutates its input', () => {
    const input = { secret: { nested: 'x' }, ok: { password: 'p' } };
    expect(redact(input)).toEqual({ secret: REDACTED, ok: { password: REDACTED } });
    expect(input.ok.password).toBe('p');
  });

  it('replaces bearer tokens, JWTs and secret parameters inside strings', () => {
    expect(redactText(`calling with Bearer ${JWT} now`)).toBe(`calling with Bearer ${REDACTED} now`);
    expect(redactText(`token ${JWT}.`)).toBe(`token ${REDACTED}.`);
    expect(redactText('POST /token?grant_type=password&password=hunter2&client_secret=abc')).toBe(
      `POST /token?grant_type=password&password=${REDACTED}&client_secret=${REDACTED}`,
    );
    expect(redactText('{"username":"a","password":"hunter2"}')).toBe(
      `{"username":"a","password":"${REDACTED}"}`,
    );
    expect(redact({ note: `got ${JWT}` })).toEqual({ note: `got ${REDACTED}` });
  });

  it('leaves ordinary text, versions and host names alone', () => {
    const text = 'GET /orders/665f1c2b 200 from api.example.com (v1.2.3), the bearer of news';
    expect(redactText(text)).toBe(text);
  });

  it('marks cycles instead of throwing, but repeats shared objects', () => {
    const shared = { id: 1 };
    const cyclic: Record<string, unknown> = { a: shared, b: shared };
    cyclic.self = cyclic;
    expect(redact(cyclic)).toEqual({ a: { id: 1 }, b: { id: 1 }, self: '[Circular]' });
  });

  it('turns errors, dates, buffers, maps, big integers and hostile getters into JSON-safe values', () => {
    const error = Object.assign(new Error('boom', { cause: new Error('root') }), { code: 'E_BOOM' });
    const hostile = Object.defineProperty({}, 'bad', {
      enumerable: true,
      get() {
        throw new Error('nope');
      },
    });
    const copied = redact({
      error,
      at: new Date(0),
      raw: Buffer.from('abc'),
      map: new Map<string, unknown>([
        ['password', 'p'],
        ['k', 1n],
      ]),
      fn: () => 1,
      hostile,
    }) as Record<string, Record<string, unknown>>;
    expect(copied.error).toMatchObject({
      type: 'Error',
      message: 'boom',
      code: 'E_BOOM',
      cause: { message: 'root' },
    });
    expect(copied.error.stack).toContain('boom');
    expect(copied).toMatchObject({
      at: '1970-01-01T00:00:00.000Z',
      raw: '[Buffer 3 bytes]',
      map: { password: REDACTED, k: '1' },
      hostile: { bad: '[Unreadable]' },
    });
    expect(copied).not.toHaveProperty('fn');
    expect(() => JSON.stringify(copied)).not.toThrow();
  });
});
