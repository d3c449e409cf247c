import type { ObjectId } from 'mongodb';
import { Column, Entity, Index, ObjectIdColumn } from 'typeorm';
import type { OutboxEntry } from '../events/outbox.js';

/**
 * PENDING → CONFIRMED | REJECTED; CONFIRMED → CANCELLING (cancel asked, stock being released) →
 * CANCELLED. PENDING and CANCELLING are finished by the compensation sweep if their request dies.
 */
export type OrderStatus = 'PENDING' | 'CONFIRMED' | 'REJECTED' | 'CANCELLING' | 'CANCELLED';

export interface OrderLine {
  productId: string;
  quantity: number;
  /** Filled from the product service's reservation answer once confirmed. */
  name?: string;
  unitPriceCents?: number;
}

@Entity('orders')
@Index(['userId', 'createdAt'])
export class Order {
  @ObjectIdColumn()
  _id!: ObjectId;

  @Column()
  userId!: string;

  @Column()
  status!: OrderStatus;

  @Column()
  lines!: OrderLine[];

  @Column()
  totalCents!: number | null;

  /** Why a REJECTED order was rejected (out_of_stock, unknown_product, dependency_unavailable, …). */
  @Column()
  reason!: string | null;

  /**
   * Stock may still be reserved for this order at the product service, which did not confirm the
   * release: the compensation sweep retries until it does.
   */
  @Column()
  releasePending!: boolean;

  /** Events of its status changes not yet confirmed by the broker (see OrderEventsRelay); absent on older orders. */
  @Column()
  outbox?: OutboxEntry[];

  @Column()
  createdAt!: Date;

  @Column()
  updatedAt!: Date;
}
