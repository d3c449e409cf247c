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

/** The first answer to the order's `Idempotency-Key`, replayed for retries of the same request. */
export interface StoredAnswer {
  status: number;
  /** The response body (success) or the error's record (a refusal). */
  body: Record<string, unknown>;
}

/**
 * An order is also the record of the `Idempotency-Key` it was placed with (one document, written by one
 * insert): the key under a unique index, the hash of the request, and the answer once given.
 */
@Entity('orders')
@Index(['userId', 'createdAt'])
export class Order {
  @ObjectIdColumn()
  _id!: ObjectId;

  @Column()
  userId!: string;

  /** Indexed: the compensation sweep looks for the few PENDING and CANCELLING orders every 2 s while orders come in. */
  @Index()
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
   * release: the compensation sweep retries until it does (indexed: it looks for them every 2 s while
   * orders come in).
   */
  @Index()
  @Column()
  releasePending!: boolean;

  /**
   * Events of its status changes not yet confirmed by the broker (see OrderEventsRelay), at most one of
   * each type; absent on older orders. `outbox.type` is indexed (by the relay, at start-up).
   */
  @Column()
  outbox?: OutboxEntry[];

  /**
   * `<userId>:<Idempotency-Key>` while the key is held: unique (sparse: orders from before it existed,
   * and orders whose key was freed, have none), so two concurrent first requests cannot both place an
   * order. Removed when the key is freed (a 5xx answer, an abandoned order) or found expired.
   */
  @Index({ unique: true, sparse: true })
  @Column()
  idempotencyKey?: string;

  /** sha256 of the canonical request, to tell a retry from a different request reusing the key. */
  @Column()
  requestHash?: string;

  /** The first answer, once given (null while the request runs; absent on orders from before it existed). */
  @Column()
  answer?: StoredAnswer | null;

  @Column()
  createdAt!: Date;

  @Column()
  updatedAt!: Date;
}
