import { describe, expect, it } from 'vitest';
import { MalformedBasicCredentials, parseBasicCredentials } from './client-authentication.js';

const basic = (raw: string) => `Basic ${Buffer.from(raw).toString('base64')}`;

describe(parseBasicCredentials.name, () => {
  it('reads the client id and secret of a Basic header', () => {
    expect(parseBasicCredentials(basic('order-service:s3cret:with:colons'))).toEqual({
      clientId: 'order-service',
      clientSecret: 's3cret:with:colons',
    });
  });

  it('form-decodes both parts, as RFC 6749 §2.3.1 has clients encode them', () => {
    expect(parseBasicCredentials(basic('my%3Aclient:a+b%25c'))).toEqual({
      clientId: 'my:client',
      clientSecret: 'a b%c',
    });
  });

  it('ignores a missing header and other schemes', () => {
    expect(parseBasicCredentials(undefined)).toBeUndefined();
    expect(parseBasicCredentials('Bearer abc.def.ghi')).toBeUndefined();
  });

  it('refuses a Basic header it cannot read', () => {
    for (const header of ['Basic', 'Basic !!!', basic('no-colon'), basic(':no-id'), basic('bad%E0:x')]) {
      expect(() => parseBasicCredentials(header), header).toThrow(MalformedBasicCredentials);
    }
  });
});
