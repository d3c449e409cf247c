export interface ClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** RFC 6749 §2.3.1 form-encodes id and secret before joining them, so `+` is a space and `%3A` a colon. */
function formDecode(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

/**
 * The client id and secret of an HTTP Basic `Authorization` header. Undefined for another scheme (or
 * none); throws {@link MalformedBasicCredentials} for a Basic header that cannot be read.
 */
export function parseBasicCredentials(authorization: string | undefined): ClientCredentials | undefined {
  const match = /^Basic +(\S+)\s*$/i.exec(authorization ?? '');
  if (!match) {
    if (/^Basic\b/i.test(authorization ?? '')) throw new MalformedBasicCredentials();
    return undefined;
  }
  if (!BASE64.test(match[1])) throw new MalformedBasicCredentials();
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) throw new MalformedBasicCredentials();
  try {
    return {
      clientId: formDecode(decoded.slice(0, colon)),
      clientSecret: formDecode(decoded.slice(colon + 1)),
    };
  } catch {
    throw new MalformedBasicCredentials();
  }
}

export class MalformedBasicCredentials extends Error {
  constructor() {
    super('malformed Basic authorization header');
    this.name = 'MalformedBasicCredentials';
  }
}
