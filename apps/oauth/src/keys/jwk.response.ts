import { SIGNING_ALGORITHM } from '#lab/auth';
import type { SigningKey } from './signing-key.entity.js';

export interface PublicJwk {
  kty: 'RSA';
  kid: string;
  alg: typeof SIGNING_ALGORITHM;
  use: 'sig';
  n: string;
  e: string;
}

export function toPublicJwk(key: Pick<SigningKey, 'kid' | 'n' | 'e'>): PublicJwk {
  return { kty: 'RSA', kid: key.kid, alg: SIGNING_ALGORITHM, use: 'sig', n: key.n, e: key.e };
}
