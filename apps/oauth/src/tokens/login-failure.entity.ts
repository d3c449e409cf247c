import type { ObjectId } from 'mongodb';
import { Column, Entity, Index, ObjectIdColumn } from 'typeorm';

/** One failed password grant, counted against an account (`account:<email>`) and an address (`ip:<ip>`). */
@Entity('login_failures')
export class LoginFailure {
  @ObjectIdColumn()
  _id!: ObjectId;

  @Index()
  @Column()
  key!: string;

  @Column()
  at!: Date;

  /** End of the window: MongoDB deletes the record then (TTL index); the code only counts newer ones. */
  @Index({ expireAfterSeconds: 0 })
  @Column()
  expiresAt!: Date;
}
