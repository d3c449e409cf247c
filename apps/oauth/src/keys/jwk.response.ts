import { ApiProperty } from '@nestjs/swagger';
import { SIGNING_ALGORITHM } from '#lab/auth';
import type { SigningKey } from './signing-key.entity.js';

export class PublicJwk {
  @ApiProperty({ enum: ['RSA'] })
  kty!: 'RSA';

  @ApiProperty()
  kid!: string;

  @ApiProperty({ enum: [SIGNING_ALGORITHM] })
  alg!: typeof SIGNING_ALGORITHM;

  @ApiProperty({ enum: ['sig'] })
  use!: 'sig';

  @ApiProperty({ description: 'The modulus, base64url.' })
  n!: string;

  @ApiProperty({ description: 'The exponent, base64url.' })
  e!: string;
}

/** RFC 7517 JWK set: the keys tokens may be signed with. */
export class JwksResponse {
  @ApiProperty({ type: [PublicJwk] })
  keys!: PublicJwk[];
}

/** A new signing key is in use; the previous one stays published until its tokens expire. */
export class RotationResponse {
  @ApiProperty()
  kid!: string;

  @ApiProperty()
  previousKid!: string;
}

export function toPublicJwk(key: Pick<SigningKey, 'kid' | 'n' | 'e'>): PublicJwk {
  return { kty: 'RSA', kid: key.kid, alg: SIGNING_ALGORITHM, use: 'sig', n: key.n, e: key.e };
}
