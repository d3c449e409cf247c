import type { ObjectId } from 'mongodb';
import { Column, Entity, Index, ObjectIdColumn } from 'typeorm';

/**
 * Stock taken for an order by one request (`token`): written in the same atomic update as the
 * decrement, so stock taken by a request that died before recording its reservation can still be put
 * back, exactly once (the put-back removes the hold in the same update). Dropped a little after the
 * reservation recorded it (with the product's next take). Holds written before tokens existed have none.
 */
export interface StockHold {
  orderId: string;
  token?: string;
  quantity: number;
  since: Date;
}

@Entity('products')
export class Product {
  @ObjectIdColumn()
  _id!: ObjectId;

  /** Names may repeat: a catalogue can hold two products of the same name. */
  @Column()
  name!: string;

  @Column()
  description!: string;

  /** Integer cents, so sums never meet binary floating point. */
  @Column()
  priceCents!: number;

  /** Units available; only conditional updates take from it, so it never goes below zero. */
  @Column()
  stock!: number;

  /**
   * Only on the demo products (absent, not null, elsewhere: the index is sparse): unique, so two
   * instances seeding at the same moment insert each demo product once.
   */
  @Index({ unique: true, sparse: true })
  @Column()
  seedKey?: string;

  /** Takes not yet recorded or not yet dropped (see {@link StockHold}); absent or empty when none. */
  @Column()
  holds?: StockHold[];

  /**
   * Tokens of put-backs in progress that already returned their stock to this product, written in the
   * same atomic update as the `$inc`, so a put-back repeated after a crash returns each line once.
   * Removed once the reservation records the put-back as complete; absent or empty otherwise.
   */
  @Column()
  returns?: string[];

  @Column()
  createdAt!: Date;

  @Column()
  updatedAt!: Date;
}
