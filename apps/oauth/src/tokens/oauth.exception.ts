import { HttpException } from '@nestjs/common';

/** RFC 6749 §5.2 error codes. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'server_error'
  | 'temporarily_unavailable';

/** An RFC 6749 error: the response object carries `error` and `error_description`. */
export class OAuthException extends HttpException {
  constructor(
    readonly code: OAuthErrorCode,
    readonly description: string,
    status = 400,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super({ error: code, error_description: description }, status);
  }

  /** 401 with the Basic challenge RFC 6749 §5.2 asks for. */
  static invalidClient(description: string): OAuthException {
    return new OAuthException('invalid_client', description, 401, {
      'www-authenticate': 'Basic realm="observability-lab"',
    });
  }
}
