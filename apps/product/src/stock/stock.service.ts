import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { isDuplicateKeyError } from '#lab/database';
import { errorCode, LabError } from '#lab/errors';
import { type Document, ObjectId, type UpdateFilter } from 'mongodb';
import { Span, TraceService } from 'nestjs-otel';
import type { MongoRepository } from 'typeorm';
import { Product } from '../products/product.entity.js';
import { StockMetrics, type StockReservationResult } from './stock.metrics.js';
import {
  type RequestedLine,
  type ReservationFailure,
  StockReservation,
  type TakenLine,
} from './stock-reservation.entity.js';

export interface ReserveOutcome {
  readonly reservation: StockReservation;
  /** An earlier request with these lines already reserved them; nothing was taken now. */
  readonly replayed: boolean;
}

const released = (orderId: string) =>
  new LabError(
    'reservation_released',
    `the reservation of order ${orderId} was released; it takes no stock`,
    { details: { orderId } },
  );

const linesOf = (count: number) => `${count} ${count === 1 ? 'line' : 'lines'}`;

/** Lines compared regardless of order and of the case of the ids. */
function sameLines(a: readonly RequestedLine[], b: readonly RequestedLine[]): boolean {
  const key = (lines: readonly RequestedLine[]) =>
    lines
      .map((line) => `${line.productId.toLowerCase()}:${line.quantity}`)
      .sort()
      .join(',');
  return a.length === b.length && key(a) === key(b);
}

/** TypeORM types updates for any document, where `$push` and `$pull` accept no field. */
const update = <T>(filter: UpdateFilter<T>) => filter as UpdateFilter<Document>;

/**
 * All-or-nothing stock reservations per order id, without transactions. Each product's stock moves by
 * one atomic conditional update (never below zero), which also leaves a hold naming the order until
 * the reservation's `taken` lists the line; each status change of a reservation is one conditional
 * update, so exactly one party (the reserving request, its failure, a release) puts back what `taken`
 * lists, and whoever ends a PENDING reservation also puts back what is still held for it. That put-back
 * is recorded (`returning`) in the same update as the status change and marked on each product as it
 * happens, so whoever comes next after a crash (a repeated release) finishes it without doubling it.
 */
@Injectable()
export class StockService {
  private readonly logger = new Logger(StockService.name);

  constructor(
    @InjectRepository(Product) private readonly products: MongoRepository<Product>,
    @InjectRepository(StockReservation) private readonly reservations: MongoRepository<StockReservation>,
    private readonly metrics: StockMetrics,
    private readonly traces: TraceService,
  ) {}

  /** In a `stock.reserve` span; counted in `stock_reservations_total{result}`. */
  @Span('stock.reserve', (orderId: string, requested: readonly RequestedLine[]) => ({
    attributes: { 'order.id': orderId, 'order.line_count': requested.length },
  }))
  async reserve(orderId: string, requested: readonly RequestedLine[]): Promise<ReserveOutcome> {
    try {
      const outcome = await this.reserveLines(orderId, requested);
      this.traces.getSpan()?.setAttribute('stock.replayed', outcome.replayed);
      this.metrics.reservations.inc({ result: outcome.replayed ? 'replayed' : 'reserved' });
      return outcome;
    } catch (error) {
      this.metrics.reservations.inc({ result: resultOf(error) });
      throw error;
    }
  }

  private async reserveLines(orderId: string, requested: readonly RequestedLine[]): Promise<ReserveOutcome> {
    const lines = requested.map(({ productId, quantity }) => ({
      productId: productId.toLowerCase(),
      quantity,
    }));
    const claimed = await this.claim(orderId, lines);
    if (claimed.status === 'RESERVED') return { reservation: claimed, replayed: true };

    for (const line of lines) {
      const product = await this.take(orderId, line);
      if (!product) throw await this.fail(orderId, lines.length, line);
      const taken: TakenLine = { ...line, name: product.name, unitPriceCents: product.priceCents };
      if (!(await this.record(orderId, taken))) {
        // Released meanwhile, without this line: whichever of us finds the hold puts it back.
        await this.putBackHeld(orderId, [line]);
        throw released(orderId);
      }
      await this.dropHold(orderId, line);
    }
    const reservation = await this.reservations.findOneAndUpdate(
      { orderId, status: 'PENDING' },
      { $set: { status: 'RESERVED', updatedAt: new Date() } },
      { returnDocument: 'after' },
    );
    if (!reservation) throw released(orderId);
    this.logger.log(`stock reserved for order ${orderId}: ${linesOf(lines.length)}`);
    return { reservation: this.reservations.create(reservation as StockReservation), replayed: false };
  }

  /**
   * Puts back whatever the order's reservation took, exactly once however many releases race, and
   * leaves it RELEASED. With no reservation yet, a RELEASED tombstone makes a late reservation fail.
   * In a `stock.release` span; counted as `stock_reservations_total{result="released"}`.
   */
  @Span('stock.release', (orderId: string) => ({ attributes: { 'order.id': orderId } }))
  async release(orderId: string): Promise<void> {
    await this.releaseOnce(orderId);
    this.metrics.reservations.inc({ result: 'released' });
  }

  private async releaseOnce(orderId: string): Promise<void> {
    for (;;) {
      const now = new Date();
      const token = randomUUID();
      // PENDING or RESERVED: what `taken` lists goes back now. FAILED: it went back (or is going back,
      // `returning` says) when it failed.
      const before = ((await this.reservations.findOneAndUpdate(
        { orderId, status: { $in: ['PENDING', 'RESERVED'] } },
        { $set: { status: 'RELEASED', returning: token, updatedAt: now } },
        { returnDocument: 'before' },
      )) ??
        (await this.reservations.findOneAndUpdate(
          { orderId, status: 'FAILED' },
          { $set: { status: 'RELEASED', updatedAt: now } },
          { returnDocument: 'before' },
        ))) as StockReservation | null;
      if (before) {
        const recorded = before.status === 'FAILED' ? [] : before.taken;
        if (before.status !== 'FAILED') await this.finishReturn(orderId, token, recorded);
        // Lines a reserving request took but had not recorded (it is still going, or it died).
        const recordedIds = new Set(recorded.map((line) => line.productId));
        const held =
          before.status === 'PENDING'
            ? await this.putBackHeld(
                orderId,
                before.lines.filter((line) => !recordedIds.has(line.productId)),
              )
            : 0;
        this.logger.log(
          `stock released for order ${orderId}: ${linesOf(recorded.length + held)} put back (was ${before.status})`,
        );
        await this.finishLeftovers(orderId);
        return;
      }
      try {
        await this.reservations.insertOne({
          orderId,
          status: 'RELEASED',
          lines: [],
          taken: [],
          failure: null,
          returning: null,
          createdAt: now,
          updatedAt: now,
        });
        this.logger.log(`stock released for order ${orderId}: no reservation yet, tombstone left`);
        return;
      } catch (error) {
        if (!isDuplicateKeyError(error)) throw error;
      }
      // A reservation appeared since the update above; released already, or the next round releases it.
      const existing = await this.reservations.findOneBy({ orderId });
      if (existing?.status === 'RELEASED') {
        await this.finishLeftovers(orderId);
        return;
      }
    }
  }

  /**
   * What an earlier party that died left undone on an ended reservation: a put-back of `taken` still
   * `returning`, and (once RELEASED) stock still held for lines it never recorded. Each step is
   * idempotent, so this may run any number of times, concurrently too.
   */
  private async finishLeftovers(orderId: string): Promise<void> {
    const reservation = await this.reservations.findOneBy({ orderId });
    if (!reservation || reservation.status === 'PENDING' || reservation.status === 'RESERVED') return;
    if (reservation.returning) {
      await this.finishReturn(orderId, reservation.returning, reservation.taken);
      this.logger.warn(
        `stock of order ${orderId}: an interrupted put-back of ${linesOf(reservation.taken.length)} finished`,
      );
    }
    if (reservation.status === 'RELEASED') {
      const recordedIds = new Set(reservation.taken.map((line) => line.productId));
      const held = await this.putBackHeld(
        orderId,
        reservation.lines.filter((line) => !recordedIds.has(line.productId)),
      );
      if (held > 0) this.logger.warn(`stock of order ${orderId}: ${linesOf(held)} still held put back`);
    }
  }

  async find(orderId: string): Promise<StockReservation> {
    const reservation = await this.reservations.findOneBy({ orderId });
    if (!reservation) {
      throw new LabError('unknown_reservation', `no reservation for order ${orderId}`, {
        details: { orderId },
      });
    }
    return reservation;
  }

  /**
   * A PENDING reservation this request now owns (new, or a FAILED one started over), or the RESERVED
   * one of an earlier request with the same lines; otherwise the conflict to answer.
   */
  private async claim(orderId: string, lines: RequestedLine[]): Promise<StockReservation> {
    const now = new Date();
    const pending = {
      orderId,
      status: 'PENDING' as const,
      lines,
      taken: [],
      failure: null,
      createdAt: now,
      updatedAt: now,
    };
    try {
      const { insertedId } = await this.reservations.insertOne({ ...pending });
      return this.reservations.create({ _id: insertedId, ...pending });
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
    }
    // Bounded: each round sees another request win a status change, and statuses only move forward
    // apart from FAILED → PENDING.
    for (let round = 0; round < 5; round++) {
      const existing = await this.reservations.findOneBy({ orderId });
      if (!existing) break;
      if (existing.status === 'RELEASED') throw released(orderId);
      if (!sameLines(existing.lines, lines)) {
        throw new LabError(
          'reservation_mismatch',
          `order ${orderId} already has a reservation with other lines`,
          { details: { orderId } },
        );
      }
      if (existing.status === 'RESERVED') return existing;
      if (existing.status === 'PENDING') break;
      // A failure whose put-back was interrupted: finish it before the stock is taken again.
      if (existing.returning) await this.finishLeftovers(orderId);
      const restarted = await this.reservations.findOneAndUpdate(
        { orderId, status: 'FAILED', returning: null },
        { $set: { status: 'PENDING', taken: [], failure: null, updatedAt: new Date() } },
        { returnDocument: 'after' },
      );
      if (restarted) return this.reservations.create(restarted as StockReservation);
    }
    throw new LabError(
      'reservation_in_progress',
      `the reservation of order ${orderId} is in progress; try again shortly`,
      { details: { orderId } },
    );
  }

  /**
   * Takes the line's quantity if that much is in stock, leaving a hold for the order in the same
   * atomic update; answers the product as it is after, or null.
   */
  private async take(orderId: string, line: RequestedLine): Promise<Product | null> {
    const now = new Date();
    const product = await this.products.findOneAndUpdate(
      { _id: new ObjectId(line.productId), stock: { $gte: line.quantity } },
      update<Product>({
        $inc: { stock: -line.quantity },
        $push: { holds: { orderId, quantity: line.quantity, since: now } },
        $set: { updatedAt: now },
      }),
      { returnDocument: 'after' },
    );
    return product as Product | null;
  }

  /** False when the reservation is no longer this request's (released meanwhile). */
  private async record(orderId: string, line: TakenLine): Promise<boolean> {
    const result = await this.reservations.updateOne(
      { orderId, status: 'PENDING' },
      update<StockReservation>({ $push: { taken: line }, $set: { updatedAt: new Date() } }),
    );
    return 'modifiedCount' in result && result.modifiedCount === 1;
  }

  /** The reservation lists the line now, so the hold has done its job. */
  private async dropHold(orderId: string, line: RequestedLine): Promise<void> {
    await this.products.updateOne(
      { _id: new ObjectId(line.productId) },
      update<Product>({ $pull: { holds: { orderId } } }),
    );
  }

  /**
   * Ends a PENDING reservation as FAILED and puts back what it took; answers the error for the line
   * that could not be taken. When a release got there first, the release put the stock back.
   */
  private async fail(orderId: string, lineCount: number, line: RequestedLine): Promise<LabError> {
    const product = await this.products.findOneBy({ _id: new ObjectId(line.productId) });
    const failure: ReservationFailure = {
      code: product ? 'out_of_stock' : 'unknown_product',
      productId: line.productId,
    };
    const token = randomUUID();
    const before = (await this.reservations.findOneAndUpdate(
      { orderId, status: 'PENDING' },
      { $set: { status: 'FAILED', failure, returning: token, updatedAt: new Date() } },
      { returnDocument: 'before' },
    )) as StockReservation | null;
    if (before) await this.finishReturn(orderId, token, before.taken);
    this.logger.warn(
      `stock reservation failed for order ${orderId} (${linesOf(lineCount)}): ${failure.code} ${line.productId}; ${linesOf(before?.taken.length ?? 0)} put back`,
    );
    if (!product) {
      return new LabError('unknown_product', `product ${line.productId} does not exist`, {
        details: { productId: line.productId },
      });
    }
    return new LabError(
      'out_of_stock',
      `product ${line.productId} has ${product.stock} in stock, ${line.quantity} requested`,
      {
        details: { productId: line.productId, available: product.stock },
      },
    );
  }

  /**
   * Puts back the lines recorded in `taken` of an ended reservation whose `returning` is `token`: each
   * product at most once for that token (the token goes on the product in the same update as the stock),
   * then marks the put-back complete and removes the tokens. Safe to repeat, and to run concurrently.
   */
  private async finishReturn(orderId: string, token: string, lines: readonly RequestedLine[]): Promise<void> {
    for (const line of lines) {
      // A product deleted meanwhile has no stock to return to.
      await this.products.updateOne(
        { _id: new ObjectId(line.productId), returns: { $ne: token } },
        update<Product>({
          $inc: { stock: line.quantity },
          $push: { returns: token },
          $pull: { holds: { orderId } },
          $set: { updatedAt: new Date() },
        }),
      );
    }
    await this.reservations.updateOne({ orderId, returning: token }, { $set: { returning: null } });
    if (lines.length > 0) {
      await this.products.updateMany(
        { _id: { $in: lines.map((line) => new ObjectId(line.productId)) }, returns: token },
        update<Product>({ $pull: { returns: token } }),
      );
    }
  }

  /** Lines not recorded in `taken`: put back only where the order's hold is, which goes in the same update. */
  private async putBackHeld(orderId: string, lines: readonly RequestedLine[]): Promise<number> {
    let count = 0;
    for (const line of lines) {
      const result = await this.products.updateOne(
        { _id: new ObjectId(line.productId), 'holds.orderId': orderId },
        update<Product>({
          $inc: { stock: line.quantity },
          $pull: { holds: { orderId } },
          $set: { updatedAt: new Date() },
        }),
      );
      if ('modifiedCount' in result && result.modifiedCount === 1) count++;
    }
    return count;
  }
}

/** The `stock_reservations_total` result of a failed reservation, from its code. */
function resultOf(error: unknown): StockReservationResult {
  const code = errorCode(error);
  return code === 'out_of_stock' || code === 'unknown_product' ? code : 'rejected';
}
