import type { ObjectId } from 'mongodb';
import { Column, Entity, Index, ObjectIdColumn } from 'typeorm';

/**
 * How long a key is remembered, from its first request: after that a retry with it is a new request
 * (Stripe keeps keys 24 hours too). Enforced by a TTL index, so MongoDB (and the embedded store)
 * delete expired records by themselves.
 */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

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

  /**
   * The id the order of this attempt gets (chosen before it exists), so a record whose request died can
   * be settled from that order; it also names the attempt, so a late request never touches the record
   * of a newer attempt with the same key. Absent on records written before it existed.
   */
  @Column()
  orderId?: string;

  /**
   * Set by the request right after it stored the order. The compensation sweep frees a stuck key whose
   * order does not exist only while this is unset: whichever of the two writes first wins.
   */
  @Column()
  orderCreated?: boolean;

  @Index({ expireAfterSeconds: IDEMPOTENCY_TTL_SECONDS })
  @Column()
  createdAt!: Date;
}
