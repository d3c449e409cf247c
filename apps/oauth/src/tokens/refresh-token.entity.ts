import type { ObjectId } from 'mongodb';
import { Column, Entity, Index, ObjectIdColumn } from 'typeorm';

/** One refresh token of a rotation family; only its SHA-256 is stored. */
@Entity('refresh_tokens')
export class RefreshToken {
  @ObjectIdColumn()
  _id!: ObjectId;

  @Index({ unique: true })
  @Column()
  tokenHash!: string;

  /** Every token issued by rotating one sign-in shares it; reuse of any of them revokes them all. */
  @Index()
  @Column()
  familyId!: string;

  @Column()
  userId!: string;

  @Column()
  clientId!: string;

  @Column()
  scopes!: string[];

  @Column()
  createdAt!: Date;

  /** MongoDB deletes expired tokens (TTL index); the code checks expiry itself as well. */
  @Index({ expireAfterSeconds: 0 })
  @Column()
  expiresAt!: Date;

  @Column({ nullable: true })
  usedAt!: Date | null;

  @Column({ nullable: true })
  revokedAt!: Date | null;
}
