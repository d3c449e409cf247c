import type { ObjectId } from 'mongodb';
import { Column, Entity, Index, ObjectIdColumn } from 'typeorm';

@Entity('users')
export class User {
  @ObjectIdColumn()
  _id!: ObjectId;

  /** Lower-cased; unique, so two sign-ups racing for one address cannot both succeed. */
  @Index({ unique: true })
  @Column()
  email!: string;

  @Column()
  name!: string;

  /** scrypt, PHC string format. */
  @Column()
  passwordHash!: string;

  /** What the password grant may issue for this user. */
  @Column()
  scopes!: string[];

  @Column()
  createdAt!: Date;
}
