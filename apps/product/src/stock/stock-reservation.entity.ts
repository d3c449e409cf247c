import type { ObjectId } from 'mongodb';
import { Column, Entity, Index, ObjectIdColumn } from 'typeorm';

/**
 * RESERVED: every line taken (written once, by the request that took them). PENDING: only on
 * reservations from before reservations were written whole (stock was being taken). FAILED: a line could not be taken; what was taken went back, and the
 * same lines may be tried again. RELEASED: final; what was taken went back (or nothing was: a release
 * that arrived first leaves a RELEASED tombstone, so a late reservation takes nothing).
 */
export type ReservationStatus = 'PENDING' | 'RESERVED' | 'FAILED' | 'RELEASED';

export interface RequestedLine {
  productId: string;
  quantity: number;
}

/** A line whose stock was taken, with the product's name and price at that moment. */
export interface TakenLine extends RequestedLine {
  name: string;
  unitPriceCents: number;
}

export interface ReservationFailure {
  code: 'out_of_stock' | 'unknown_product';
  productId: string;
}

@Entity('stock_reservations')
export class StockReservation {
  @ObjectIdColumn()
  _id!: ObjectId;

  /** One reservation per order: the unique index decides between concurrent requests. */
  @Index({ unique: true })
  @Column()
  orderId!: string;

  @Column()
  status!: ReservationStatus;

  @Column()
  lines!: RequestedLine[];

  /**
   * Appended after each line's stock is taken and before the next, so whoever ends the reservation
   * knows exactly what to put back. Kept as history once FAILED or RELEASED (then it was put back).
   */
  @Column()
  taken!: TakenLine[];

  @Column({ nullable: true })
  failure!: ReservationFailure | null;

  /**
   * Set in the same update that ends the reservation (FAILED, or RELEASED from PENDING or RESERVED):
   * the token of the put-back of `taken` that is not known to be complete. Whoever finds it set (the
   * next release, a retry) finishes that put-back, once per product line (see `Product.returns`), so a
   * crash between the status change and the stock going back loses nothing. Null once done.
   */
  @Column({ nullable: true })
  returning?: string | null;

  /**
   * The token of the request whose holds this reservation recorded (see `StockHold`): its holds are
   * accounted for by `taken`; any other hold of the order is a stray one to put back. Absent on
   * reservations from before holds had tokens, and on tombstones and failures.
   */
  @Column()
  holdToken?: string;

  @Column()
  createdAt!: Date;

  @Column()
  updatedAt!: Date;
}
