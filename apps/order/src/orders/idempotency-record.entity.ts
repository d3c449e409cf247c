import type { ObjectId } from 'mongodb';
import { Column, Entity, Index, ObjectIdColumn } from 'typeorm';

/** The first answer to an `Idempotency-Key`, replayed for retries of the same request (per user). */
@Entity('idempotency_records')
export class IdempotencyRecord {
  @ObjectIdColumn()
  _id!: ObjectId;

  /** `<userId>:<Idempotency-Key>`; unique, so two concurrent first requests cannot both start. */
  @Index({ unique: true })
  @Column()
  key!: string;

  /** sha256 of the canonical request, to tell a retry from a different request reusing the key. */
  @Column()
  requestHash!: string;

  @Column()
  state!: 'IN_PROGRESS' | 'DONE';

  @Column()
  status!: number | null;

  /** The response body (success) or the exception response (error) of the first answer. */
  @Column()
  response!: Record<string, unknown> | null;

  @Column()
  createdAt!: Date;
}
