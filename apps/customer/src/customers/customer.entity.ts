import type { ObjectId } from 'mongodb';
import { Column, Entity, Index, ObjectIdColumn } from 'typeorm';

export interface Address {
  line1: string;
  line2?: string;
  city: string;
  postalCode: string;
  country: string;
}

@Entity('customers')
export class Customer {
  @ObjectIdColumn()
  _id!: ObjectId;

  /** The oauth user this profile belongs to (one profile per user). */
  @Index({ unique: true })
  @Column()
  userId!: string;

  @Column()
  email!: string;

  @Column()
  name!: string;

  @Column()
  address!: Address | null;

  @Column()
  createdAt!: Date;

  @Column()
  updatedAt!: Date;
}
