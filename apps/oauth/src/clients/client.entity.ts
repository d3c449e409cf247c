import type { ObjectId } from 'mongodb';
import { Column, Entity, Index, ObjectIdColumn } from 'typeorm';

/** A confidential client of the client_credentials grant. */
@Entity('clients')
export class Client {
  @ObjectIdColumn()
  _id!: ObjectId;

  @Index({ unique: true })
  @Column()
  clientId!: string;

  /** scrypt hash of the secret; the secret itself is never stored. */
  @Column()
  secretHash!: string;

  @Column()
  scopes!: string[];

  @Column()
  createdAt!: Date;

  @Column()
  updatedAt!: Date;
}
