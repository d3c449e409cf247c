import type { ObjectId } from 'mongodb';
import { Column, Entity, Index, ObjectIdColumn } from 'typeorm';

/** One sign-in attempt counted against a bucket: in progress (reserved) or failed. */
export interface ThrottleAttempt {
  /** Unique per attempt, so the attempt can take back its own reservation. */
  readonly id: string;
  readonly at: Date;
}

/**
 * The attempts of one account (`account:<email>`), client (`client:<id>`) or address (`ip:<ip>`,
 * `client-ip:<ip>`) within the window: at most the limit, which a conditional update never exceeds.
 */
@Entity('login_throttle')
export class ThrottleBucket {
  @ObjectIdColumn()
  _id!: ObjectId;

  @Index({ unique: true })
  @Column()
  key!: string;

  @Column()
  attempts!: ThrottleAttempt[];

  /** When the newest attempt leaves the window: MongoDB deletes the bucket then (TTL index). */
  @Index({ expireAfterSeconds: 0 })
  @Column()
  expiresAt!: Date;
}
