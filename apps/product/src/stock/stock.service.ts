import { AsyncResource } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { isDuplicateKeyError } from '#lab/database';
import { errorCode, LabError } from '#lab/errors';
import { type Document, ObjectId, type UpdateFilter } from 'mongodb';
import { Span, TraceService } from 'nestjs-otel';
import type { MongoRepository } from 'typeorm';
import { Product, type StockHold } from '../products/product.entity.js';
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

const inProgress = (orderId: string) =>
  new LabError(
    'reservation_in_progress',
    `the reservation of order ${orderId} is in progress; try again shortly`,
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
/** An update pipeline (MongoDB 4.2+), which TypeORM's types do not know. */
const pipeline = (stages: Document[]) => stages as unknown as UpdateFilter<Document>;

/**
 * How long a put-back's token stays on a product after it returned the stock there: far longer than any
 * party takes between reading a reservation's `returning` and updating the product.
 */
export const RETURN_TOKENS_KEPT_MS = 10 * 60_000;
/** A put-back token that sorts by time (ISO time first), so old ones can be pruned by comparison. */
const returnToken = (at: Date, suffix: string = randomUUID()) => `r:${at.toISOString()}:${suffix}`;

/** A hold older than this whose request has not recorded it belongs to a request that died. */
export const STALE_HOLD_MS = 60_000;

/** Lines in the order their stock is taken: by product id, so two requests for one order meet on the first. */
const inTakeOrder = (lines: readonly RequestedLine[]) =>
  [...lines].sort((a, b) => (a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0));

/**
 * All-or-nothing stock reservations per order id, without transactions, in one write per line plus one:
 * each line's stock is taken by one atomic conditional update of the product (never below zero) that
 * also leaves a hold naming the order and this request's token, then one insert records the reservation
 * RESERVED with what was taken. The holds are what makes it safe: stock taken by a request that died
 * before the insert is still named on the product, and whoever ends the order's reservation (a release,
 * or the hold sweep for holds older than {@link STALE_HOLD_MS}) puts it back, exactly once, because the
 * put-back removes the hold in the same update. A request takes its lines in product-id order and never
 * where the order already holds stock, so two requests for one order never both get past the first line.
 * A recorded reservation's holds are dropped later, in the pipeline update of the next take of the same
 * product (or a second after the last one): no write of its own.
 *
 * Each status change of a reservation is one conditional update, so exactly one party puts back what
 * `taken` lists; that put-back is recorded (`returning`) in the same update as the status change and
 * marked on each product as it happens, so whoever comes next after a crash finishes it without doubling it.
 */
@Injectable()
export class StockService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(StockService.name);
  /** Holds of recorded reservations, by product id: dropped with that product's next take. */
  private readonly droppable = new Map<string, Set<string>>();
  /** Tokens of this instance's requests that are taking stock now. */
  private readonly inFlight = new Set<string>();
  private dropTimer?: NodeJS.Timeout;
  private sweepTimer?: NodeJS.Timeout;
  private stopped = false;
  /**
   * The async context the instance was made in (start-up), in which its timers are armed: a timer armed
   * in a request's would run its updates in that request's trace, with its request id.
   */
  private readonly background = new AsyncResource('StockHolds');

  constructor(
    @InjectRepository(Product) private readonly products: MongoRepository<Product>,
    @InjectRepository(StockReservation) private readonly reservations: MongoRepository<StockReservation>,
    private readonly metrics: StockMetrics,
    private readonly traces: TraceService,
  ) {}

  /** One hold sweep once a previous instance's holds are stale (it may have died holding some). */
  onApplicationBootstrap(): void {
    this.scheduleHoldSweep();
  }

  onModuleDestroy(): void {
    this.stopped = true;
    clearTimeout(this.dropTimer);
    clearTimeout(this.sweepTimer);
  }

  /** In a `stock.reserve` span; counted in `stock_reservations_total{result}`. */
  @Span('stock.reserve', (orderId: string, requested: readonly RequestedLine[]) => ({
    attributes: { 'order.id': orderId, 'order.line_count': requested.length },
  }))
  async reserve(orderId: string, requested: readonly RequestedLine[]): Promise<ReserveOutcome> {
    try {
      const outcome = await this.reserveLines(orderId, requested).catch((error: unknown) => {
        if (error instanceof Replay) return { reservation: error.reservation, replayed: true };
        throw error;
      });
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
    const token = randomUUID();
    const held: TakenLine[] = [];
    this.inFlight.add(token);
    try {
      for (const line of inTakeOrder(lines)) {
        const product = await this.take(orderId, token, line);
        if (!product) return await this.refuse(orderId, token, lines, held, line);
        held.push({ ...line, name: product.name, unitPriceCents: product.priceCents });
      }
      // `taken` in the order of the request.
      const taken = lines.map((line) => held.find((h) => h.productId === line.productId) as TakenLine);
      return await this.record(orderId, token, lines, taken);
    } catch (error) {
      if (error instanceof LabError || error instanceof Replay) throw error;
      // The store failed mid-way: what this request holds goes back now, or by the hold sweep later.
      await this.putBackOwn(orderId, token, held).catch(() => this.scheduleHoldSweep());
      throw error;
    } finally {
      this.inFlight.delete(token);
    }
  }

  /**
   * Records the reservation RESERVED with what this request took (one insert); when the order has a
   * reservation already, puts back what this request holds and answers from it (a replay, a released
   * order, other lines), or starts a FAILED one over with these lines.
   */
  private async record(
    orderId: string,
    token: string,
    lines: RequestedLine[],
    taken: TakenLine[],
  ): Promise<ReserveOutcome> {
    const now = new Date();
    const fields = {
      status: 'RESERVED' as const,
      lines,
      taken,
      failure: null,
      returning: null,
      holdToken: token,
      updatedAt: now,
    };
    try {
      const { insertedId } = await this.reservations.insertOne({ orderId, ...fields, createdAt: now });
      this.dropLater(token, taken);
      this.logger.log(`stock reserved for order ${orderId}: ${linesOf(lines.length)}`);
      return {
        reservation: this.reservations.create({ _id: insertedId, orderId, ...fields, createdAt: now }),
        replayed: false,
      };
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
    }
    // Bounded: each round sees another party change the reservation, and statuses only move forward
    // apart from FAILED → RESERVED.
    for (let round = 0; round < 5; round++) {
      const existing = await this.reservations.findOneBy({ orderId });
      if (!existing) break;
      if (existing.status === 'FAILED' && sameLines(existing.lines, lines)) {
        // A failure whose put-back was interrupted: finish it before this request's stock counts.
        if (existing.returning) await this.finishLeftovers(orderId);
        const restarted = await this.reservations.findOneAndUpdate(
          { orderId, status: 'FAILED', returning: null },
          { $set: fields },
          { returnDocument: 'after' },
        );
        if (restarted) {
          this.dropLater(token, taken);
          this.logger.log(`stock reserved for order ${orderId} (started over): ${linesOf(lines.length)}`);
          return { reservation: this.reservations.create(restarted as StockReservation), replayed: false };
        }
        continue;
      }
      await this.putBackOwn(orderId, token, taken);
      throw this.conflictOf(orderId, existing, lines) ?? inProgress(orderId);
    }
    await this.putBackOwn(orderId, token, taken);
    throw inProgress(orderId);
  }

  /**
   * A line could not be taken. Puts back what this request holds, then answers: a replay or conflict
   * when another request holds this order's stock of the product, else the failure (recorded FAILED,
   * unless the order has a reservation already).
   */
  private async refuse(
    orderId: string,
    token: string,
    lines: RequestedLine[],
    held: TakenLine[],
    line: RequestedLine,
  ): Promise<never> {
    const product = await this.products.findOneBy({ _id: new ObjectId(line.productId) });
    await this.putBackOwn(orderId, token, held);
    const existing = async () => {
      const reservation = await this.reservations.findOneBy({ orderId });
      if (reservation?.status === 'RESERVED' && sameLines(reservation.lines, lines)) {
        throw new Replay(this.reservations.create(reservation));
      }
      return reservation ? this.conflictOf(orderId, reservation, lines) : undefined;
    };
    if (product?.holds?.some((hold) => hold.orderId === orderId)) {
      // Another request for this order holds the stock (still reserving, or reserved and its hold not yet dropped).
      throw (await existing()) ?? inProgress(orderId);
    }
    const failure: ReservationFailure = {
      code: product ? 'out_of_stock' : 'unknown_product',
      productId: line.productId,
    };
    const now = new Date();
    try {
      await this.reservations.insertOne({
        orderId,
        status: 'FAILED',
        lines,
        taken: [],
        failure,
        returning: null,
        createdAt: now,
        updatedAt: now,
      });
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
      const conflict = await existing();
      if (conflict) throw conflict;
    }
    this.logger.warn(
      `stock reservation failed for order ${orderId} (${linesOf(lines.length)}): ${failure.code} ${line.productId}; ${linesOf(held.length)} put back`,
    );
    if (!product) {
      throw new LabError('unknown_product', `product ${line.productId} does not exist`, {
        details: { productId: line.productId },
      });
    }
    throw new LabError(
      'out_of_stock',
      `product ${line.productId} has ${product.stock} in stock, ${line.quantity} requested`,
      { details: { productId: line.productId, available: product.stock } },
    );
  }

  /** Why an existing reservation of the order refuses these lines (undefined: a FAILED one with the same lines). */
  private conflictOf(
    orderId: string,
    existing: StockReservation,
    lines: RequestedLine[],
  ): LabError | Replay | undefined {
    if (existing.status === 'RELEASED') return released(orderId);
    if (!sameLines(existing.lines, lines)) {
      return new LabError(
        'reservation_mismatch',
        `order ${orderId} already has a reservation with other lines`,
        { details: { orderId } },
      );
    }
    if (existing.status === 'RESERVED') return new Replay(this.reservations.create(existing));
    if (existing.status === 'PENDING') return inProgress(orderId);
    return undefined;
  }

  /**
   * Puts back whatever the order's reservation took, exactly once however many releases race, and
   * leaves it RELEASED. With no reservation yet, a RELEASED tombstone makes a late reservation fail,
   * and stock already held for the order by a request still going (or dead) is put back.
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
      const token = returnToken(now);
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
        if (before.status !== 'FAILED') await this.finishReturn(orderId, token, recorded, before.holdToken);
        // Lines a reserving request (of the version before holds had tokens) took but had not recorded.
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
        const held = await this.putBackStrayHolds(orderId, undefined);
        this.logger.log(
          `stock released for order ${orderId}: no reservation yet, tombstone left${held > 0 ? `, ${linesOf(held)} held put back` : ''}`,
        );
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
   * `returning`, and (once RELEASED) stock still held for the order by requests that never recorded it.
   * Each step is idempotent, so this may run any number of times, concurrently too.
   */
  private async finishLeftovers(orderId: string): Promise<void> {
    const reservation = await this.reservations.findOneBy({ orderId });
    if (!reservation || reservation.status === 'PENDING' || reservation.status === 'RESERVED') return;
    if (reservation.returning) {
      await this.finishReturn(orderId, reservation.returning, reservation.taken, reservation.holdToken);
      this.logger.warn(
        `stock of order ${orderId}: an interrupted put-back of ${linesOf(reservation.taken.length)} finished`,
      );
    }
    if (reservation.status === 'RELEASED') {
      const recordedIds = new Set(reservation.taken.map((line) => line.productId));
      const held =
        (await this.putBackHeld(
          orderId,
          reservation.lines.filter((line) => !recordedIds.has(line.productId)),
        )) + (await this.putBackStrayHolds(orderId, reservation.holdToken));
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
   * Takes the line's quantity if that much is in stock and the order holds none of the product yet,
   * leaving a hold for the order and this request in the same atomic update (a pipeline, which also
   * drops the holds of reservations recorded since); answers the product as it is after, or null.
   */
  private async take(orderId: string, token: string, line: RequestedLine): Promise<Product | null> {
    const now = new Date();
    const hold: StockHold = { orderId, token, quantity: line.quantity, since: now };
    const drop = [...(this.droppable.get(line.productId) ?? [])];
    const kept =
      drop.length === 0
        ? { $ifNull: ['$holds', []] }
        : {
            $filter: {
              input: { $ifNull: ['$holds', []] },
              cond: { $not: [{ $in: ['$$this.token', { $literal: drop }] }] },
            },
          };
    const product = await this.products.findOneAndUpdate(
      {
        _id: new ObjectId(line.productId),
        stock: { $gte: line.quantity },
        'holds.orderId': { $ne: orderId },
      },
      pipeline([
        {
          $set: {
            stock: { $subtract: ['$stock', line.quantity] },
            holds: { $concatArrays: [kept, { $literal: [hold] }] },
            updatedAt: { $literal: now },
          },
        },
      ]),
      { returnDocument: 'after' },
    );
    if (product && drop.length > 0) {
      const tokens = this.droppable.get(line.productId);
      for (const dropped of drop) tokens?.delete(dropped);
      if (tokens?.size === 0) this.droppable.delete(line.productId);
    }
    return product as Product | null;
  }

  /** The holds of a recorded reservation: dropped with the next take of each product, or within a second. */
  private dropLater(token: string, lines: readonly RequestedLine[]): void {
    for (const line of lines) {
      let tokens = this.droppable.get(line.productId);
      if (!tokens) this.droppable.set(line.productId, (tokens = new Set()));
      tokens.add(token);
    }
    if (!this.dropTimer && !this.stopped) {
      this.dropTimer = this.background.runInAsyncScope(() => setTimeout(() => void this.dropHolds(), 1000));
      this.dropTimer.unref();
    }
  }

  /** Drops the holds of recorded reservations that no take dropped yet (one update per product). */
  async dropHolds(): Promise<void> {
    clearTimeout(this.dropTimer);
    this.dropTimer = undefined;
    const pending = [...this.droppable];
    this.droppable.clear();
    for (const [productId, tokens] of pending) {
      try {
        await this.products.updateOne(
          { _id: new ObjectId(productId) },
          update<Product>({ $pull: { holds: { token: { $in: [...tokens] } } } }),
        );
      } catch (error) {
        // Left on the product; the hold sweep drops it once stale.
        this.scheduleHoldSweep();
        this.logger.warn(
          `holds of product ${productId} not dropped: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
  }

  /** Puts back what this request holds (each line where its hold still is). */
  private async putBackOwn(orderId: string, token: string, lines: readonly RequestedLine[]): Promise<void> {
    for (const line of lines)
      await this.putBackHold(line.productId, { orderId, token, quantity: line.quantity });
  }

  /** One hold's stock back, only while the hold is there: it goes in the same update. */
  private async putBackHold(
    productId: string,
    hold: Pick<StockHold, 'orderId' | 'token' | 'quantity'>,
  ): Promise<boolean> {
    const result = await this.products.updateOne(
      { _id: new ObjectId(productId), holds: { $elemMatch: { orderId: hold.orderId, token: hold.token } } },
      update<Product>({
        $inc: { stock: hold.quantity },
        $pull: { holds: { orderId: hold.orderId, token: hold.token } },
        $set: { updatedAt: new Date() },
      }),
    );
    return 'modifiedCount' in result && result.modifiedCount === 1;
  }

  /**
   * Puts back the stock held for an ended order by requests that never recorded it (every hold of the
   * order but the recorded reservation's): they died, or see the ended reservation and find nothing
   * left to put back. Reads the products that hold stock for the order.
   */
  private async putBackStrayHolds(orderId: string, recordedToken: string | undefined): Promise<number> {
    let count = 0;
    for (const product of await this.products.find({ where: { 'holds.orderId': orderId } })) {
      for (const hold of product.holds ?? []) {
        if (hold.orderId !== orderId || !hold.token || hold.token === recordedToken) continue;
        if (await this.putBackHold(product._id.toHexString(), hold)) count++;
      }
    }
    return count;
  }

  /**
   * Settles holds older than {@link STALE_HOLD_MS} that no request of this instance is working with:
   * a recorded reservation's hold is dropped; any other is put back after its order's reservation is
   * ended (released, or a tombstone), so that a request still going can no longer record it. Runs once
   * after start-up and after a put-back failed; again later only while it left younger strangers' holds.
   * Answers what it did.
   */
  async sweepHolds(now = new Date()): Promise<{ dropped: number; putBack: number }> {
    const report = { dropped: 0, putBack: 0 };
    let younger = false;
    try {
      for (const product of await this.products.find({ where: { 'holds.0': { $exists: true } } })) {
        for (const hold of product.holds ?? []) {
          if (!hold.token || this.inFlight.has(hold.token)) continue;
          if (now.getTime() - new Date(hold.since).getTime() < STALE_HOLD_MS) {
            if (!this.droppable.get(product._id.toHexString())?.has(hold.token)) younger = true;
            continue;
          }
          const reservation = await this.reservations.findOneBy({ orderId: hold.orderId });
          if (reservation?.holdToken === hold.token) {
            if (reservation.returning) await this.finishLeftovers(hold.orderId);
            await this.products.updateOne(
              { _id: product._id },
              update<Product>({ $pull: { holds: { orderId: hold.orderId, token: hold.token } } }),
            );
            report.dropped++;
            continue;
          }
          if (!reservation || reservation.status === 'FAILED' || reservation.status === 'PENDING') {
            await this.releaseOnce(hold.orderId);
          }
          if (await this.putBackHold(product._id.toHexString(), hold)) {
            report.putBack++;
            this.logger.warn(
              `stock of order ${hold.orderId}: a hold of ${hold.quantity} on product ${product._id.toHexString()} left by a request that died put back`,
            );
          }
        }
      }
    } catch (error) {
      younger = true;
      this.logger.error(`hold sweep failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (report.dropped + report.putBack > 0) {
      this.metrics.holdsSwept.inc({ action: 'dropped' }, report.dropped);
      this.metrics.holdsSwept.inc({ action: 'put_back' }, report.putBack);
    }
    if (younger) this.scheduleHoldSweep();
    return report;
  }

  private scheduleHoldSweep(): void {
    if (this.sweepTimer || this.stopped) return;
    this.sweepTimer = this.background.runInAsyncScope(() =>
      setTimeout(() => {
        this.sweepTimer = undefined;
        void this.sweepHolds();
      }, STALE_HOLD_MS),
    );
    this.sweepTimer.unref();
  }

  /**
   * Puts back the lines recorded in `taken` of an ended reservation whose `returning` is `token`: each
   * product at most once for that token (the token goes on the product in the same update as the stock,
   * which also drops the recorded hold if still there), then marks the put-back complete. Safe to
   * repeat, and to run concurrently: the tokens stay on the product for {@link RETURN_TOKENS_KEPT_MS}
   * (pruned by its later put-backs), so a party that read `returning` just before the put-back completed
   * still finds the token and returns nothing twice.
   */
  private async finishReturn(
    orderId: string,
    token: string,
    lines: readonly RequestedLine[],
    holdToken: string | undefined,
  ): Promise<void> {
    const now = new Date();
    const oldest = returnToken(new Date(now.getTime() - RETURN_TOKENS_KEPT_MS), '');
    const recordedHold = holdToken
      ? { $and: [{ $eq: ['$$this.orderId', orderId] }, { $eq: ['$$this.token', holdToken] }] }
      : {
          $and: [{ $eq: ['$$this.orderId', orderId] }, { $eq: [{ $ifNull: ['$$this.token', null] }, null] }],
        };
    for (const line of lines) {
      // A product deleted meanwhile has no stock to return to.
      await this.products.updateOne(
        { _id: new ObjectId(line.productId), returns: { $ne: token } },
        pipeline([
          {
            $set: {
              stock: { $add: ['$stock', line.quantity] },
              returns: {
                $concatArrays: [
                  { $filter: { input: { $ifNull: ['$returns', []] }, cond: { $gte: ['$$this', oldest] } } },
                  { $literal: [token] },
                ],
              },
              holds: { $filter: { input: { $ifNull: ['$holds', []] }, cond: { $not: [recordedHold] } } },
              updatedAt: { $literal: now },
            },
          },
        ]),
      );
    }
    await this.reservations.updateOne({ orderId, returning: token }, { $set: { returning: null } });
  }

  /**
   * Lines of a reservation from before holds had tokens, not recorded in `taken`: put back only where
   * the order's hold is, which goes in the same update.
   */
  private async putBackHeld(orderId: string, lines: readonly RequestedLine[]): Promise<number> {
    let count = 0;
    const legacy = { orderId, token: { $exists: false } };
    for (const line of lines) {
      const result = await this.products.updateOne(
        { _id: new ObjectId(line.productId), holds: { $elemMatch: legacy } },
        update<Product>({
          $inc: { stock: line.quantity },
          $pull: { holds: legacy },
          $set: { updatedAt: new Date() },
        }),
      );
      if ('modifiedCount' in result && result.modifiedCount === 1) count++;
    }
    return count;
  }
}

/** The answer of an earlier request that reserved the same lines (thrown to end a request early). */
class Replay {
  constructor(readonly reservation: StockReservation) {}
}

/** The `stock_reservations_total` result of a failed reservation, from its code. */
function resultOf(error: unknown): StockReservationResult {
  const code = errorCode(error);
  return code === 'out_of_stock' || code === 'unknown_product' ? code : 'rejected';
}
