import type { ObjectId } from 'mongodb';
import { Column, Entity, Index, ObjectIdColumn } from 'typeorm';
import type { OrderSummary } from '../order-summary/order-summary.js';

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

  /** Kept by the order-events consumer; absent until the first event. */
  @Column()
  orderSummary?: OrderSummary;

  /** Ids of the latest order events applied to {@link orderSummary} (duplicates change nothing). */
  @Column()
  orderEventIds?: string[];

  @Column()
  createdAt!: Date;

  @Column()
  updatedAt!: Date;
}
