import type { ObjectId } from 'mongodb';
import { Column, Entity, Index, ObjectIdColumn } from 'typeorm';

/** An RS256 key pair; the newest generation that is not retired signs. */
@Entity('signing_keys')
export class SigningKey {
  @ObjectIdColumn()
  _id!: ObjectId;

  /** RFC 7638 thumbprint of the public key. */
  @Index({ unique: true })
  @Column()
  kid!: string;

  /** Unique: of two instances creating or rotating at the same moment, exactly one inserts. */
  @Index({ unique: true })
  @Column()
  generation!: number;

  /** Public modulus and exponent (base64url), what the JWKS publishes. */
  @Column()
  n!: string;

  @Column()
  e!: string;

  /** PKCS#8 PEM. Absent for a key loaded from OAUTH_SIGNING_KEY_FILE: the file stays its only copy. */
  @Column({ nullable: true })
  privateKeyPem!: string | null;

  @Column()
  createdAt!: Date;

  @Column({ nullable: true })
  retiredAt!: Date | null;
}
