/** Access tokens: RS256 (verified on every hop, signed once per token; RSA verifies fastest), RFC 9068 type. */
export const SIGNING_ALGORITHM = 'RS256';
export const ACCESS_TOKEN_TYPE = 'at+jwt';
/** Clock skew tolerated on `exp`, `nbf` and `iat`. */
export const CLOCK_TOLERANCE_SECONDS = 30;
