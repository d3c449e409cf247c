import { AsyncResource } from 'node:async_hooks';
import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { objectIdFrom } from '#lab/database';
import { ObjectId } from 'mongodb';
import { Span, TraceService } from 'nestjs-otel';
import type { MongoRepository } from 'typeorm';
import { pushToOutbox } from '../events/outbox.js';
import { IdempotencyService, type StuckRecord } from './idempotency.service.js';
import { Order } from './order.entity.js';
import { OrderActivity } from './order-activity.js';
import { type OrderCompensationAction, OrderMetrics } from './order.metrics.js';
import { toOrderResponse } from './order.response.js';
import { OrdersService } from './orders.service.js';

/** Every 2 s while something may be waiting: orders written by this instance in the last 34 s, or work the last pass found. */
export const SWEEP_EVERY_MS = 2000;
/** Otherwise one pass a minute (what another instance left behind); the first pass runs 2 s after start. */
export const SAFETY_SWEEP_EVERY_MS = 60_000;
/**
 * An order still PENDING, or an Idempotency-Key still unanswered, after this long lost its request (a
 * crash, a dropped connection): far longer than a placement takes with every upstream timeout.
 */
export const ABANDONED_AFTER_MS = 30_000;
/** At most this many of each kind per pass; the next pass takes the rest. */
const BATCH = 50;

/** What one sweep finished, by action (also counted in `order_compensations_total{action}`). */
export type SweepReport = Record<OrderCompensationAction, number>;

/**
 * Finishes what a saga step left behind when its request failed or its process died, so every order
 * converges: rejects orders stuck in PENDING (releasing whatever they may have reserved), releases stock
 * for rejected orders whose release was not confirmed, finishes CANCELLING orders (release, then
 * CANCELLED), and settles Idempotency-Keys whose request never answered: a key whose order got
 * confirmed replays that order (201), any other key is freed for a new attempt.
 */
@Injectable()
export class CompensationService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Compensation');
  private timer?: NodeJS.Timeout;
  private nextAt = 0;
  private stopped = false;
  private running = false;
  /** Until when passes run every SWEEP_EVERY_MS: a PENDING order written now may be abandoned until then. */
  private activeUntil = 0;
  private quiet = false;
  /** The async context the instance was made in (start-up), in which the timer is armed. */
  private readonly background = new AsyncResource('CompensationSweep');

  /** Nothing this instance wrote can still need the sweep, and the last pass found nothing waiting. */
  get idle(): boolean {
    return this.quiet;
  }

  constructor(
    @InjectRepository(Order) private readonly orders: MongoRepository<Order>,
    private readonly ordersService: OrdersService,
    private readonly idempotency: IdempotencyService,
    private readonly metrics: OrderMetrics,
    private readonly traces: TraceService,
    private readonly activity: OrderActivity,
  ) {
    // Still heard once stopped (specs stop the timer and run passes themselves); nothing is scheduled then.
    activity.onWrite(() => {
      this.activeUntil = Date.now() + ABANDONED_AFTER_MS + 2 * SWEEP_EVERY_MS;
      this.schedule(SWEEP_EVERY_MS);
    });
  }

  onApplicationBootstrap(): void {
    this.schedule(SWEEP_EVERY_MS);
  }

  onModuleDestroy(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** The next pass in `delayMs`, unless one is due sooner already. */
  private schedule(delayMs: number): void {
    const at = Date.now() + delayMs;
    if (this.stopped || (this.timer && this.nextAt <= at)) return;
    clearTimeout(this.timer);
    this.nextAt = at;
    // Armed in the context of start-up, not of the request whose write asked for it: the sweep's spans
    // and logs would otherwise join that request's trace and carry its request id.
    this.timer = this.background.runInAsyncScope(() =>
      setTimeout(() => {
        this.timer = undefined;
        void this.sweep().finally(() => this.schedule(this.idle ? SAFETY_SWEEP_EVERY_MS : SWEEP_EVERY_MS));
      }, delayMs),
    );
    this.timer.unref();
  }

  /** One pass (none while another runs); answers what it finished. `now` is for tests. */
  async sweep(now = new Date()): Promise<SweepReport> {
    const report: SweepReport = {
      abandoned: 0,
      released: 0,
      cancel_completed: 0,
      key_settled: 0,
      key_freed: 0,
    };
    if (this.running) return report;
    this.running = true;
    const done = (action: OrderCompensationAction) => {
      report[action]++;
      this.metrics.compensations.inc({ action });
    };
    let waiting: boolean;
    try {
      const cutoff = new Date(now.getTime() - ABANDONED_AFTER_MS);
      const abandoned = await this.orders.updateMany(
        { status: 'PENDING', createdAt: { $lt: cutoff } },
        {
          $set: { status: 'REJECTED', reason: 'abandoned', releasePending: true, updatedAt: new Date() },
          // The key goes with the order: a retry is a fresh attempt.
          $unset: { idempotencyKey: '' },
          ...pushToOutbox('order.rejected'),
        },
      );
      for (let i = 0; i < abandoned.modifiedCount; i++) done('abandoned');
      if (abandoned.modifiedCount > 0) {
        this.logger.warn(`${abandoned.modifiedCount} abandoned pending orders rejected`);
        this.activity.written();
      }

      const releases = await this.orders.find({ where: { releasePending: true }, take: BATCH });
      for (const order of releases) {
        if (await this.step(order._id, 'released', () => this.ordersService.releaseQuietly(order._id)))
          done('released');
      }
      const cancels = await this.orders.find({ where: { status: 'CANCELLING' }, take: BATCH });
      for (const order of cancels) {
        const finished = await this.step(order._id, 'cancel_completed', async () => {
          await this.ordersService.completeCancel(order._id);
          return true;
        });
        if (finished) done('cancel_completed');
      }
      let stuckKeys = 0;
      if (this.idempotency.hasLegacyRecords) {
        for (const record of await this.idempotency.stuck(cutoff, BATCH)) {
          stuckKeys++;
          const action = await this.settleKey(record);
          if (action) done(action);
        }
        await this.idempotency.refreshLegacyRecords();
      }
      // Orders still PENDING (younger than the cutoff: their requests may still answer) keep the sweep going.
      const pending = await this.orders.findOne({ where: { status: 'PENDING' } });
      waiting =
        pending !== null ||
        releases.length > report.released ||
        cancels.length > report.cancel_completed ||
        stuckKeys > 0;
      const total = Object.values(report).reduce((sum, n) => sum + n, 0);
      if (total > 0) this.logger.log(`compensation sweep: ${JSON.stringify(report)}`);
    } catch (error) {
      waiting = true;
      this.logger.error(
        `compensation sweep failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    } finally {
      this.running = false;
    }
    this.quiet = !waiting && !this.idempotency.hasLegacyRecords && now.getTime() >= this.activeUntil;
    return report;
  }

  /** One compensating step on one order, in an `order.compensate` span; false when it has to wait for a later pass. */
  @Span(
    'order.compensate',
    (id: ObjectId, action: OrderCompensationAction, _run: () => Promise<boolean>) => ({
      attributes: { 'order.id': id.toHexString(), 'order.compensation.action': action },
    }),
  )
  private async step(
    id: ObjectId,
    action: OrderCompensationAction,
    run: () => Promise<boolean>,
  ): Promise<boolean> {
    const span = this.traces.getSpan();
    try {
      const finished = await run();
      span?.setAttribute('order.compensation.finished', finished);
      return finished;
    } catch (error) {
      span?.setAttribute('order.compensation.finished', false);
      this.logger.warn(
        `${action} of order ${id.toHexString()} failed, will retry: ${error instanceof Error ? error.message : String(error)}`,
      );
      return false;
    }
  }

  /**
   * A key whose request never answered: once its order is settled, a retry gets what a live request
   * would have answered where that is certain (a confirmed order: 201 with the order, never a second
   * order), and otherwise a fresh attempt (nothing of the order stays reserved).
   */
  private async settleKey(record: StuckRecord): Promise<OrderCompensationAction | undefined> {
    const orderId = typeof record.orderId === 'string' ? objectIdFrom(record.orderId) : undefined;
    const order = orderId ? await this.orders.findOneBy({ _id: orderId }) : null;
    // PENDING: the abandoned-order rule rejects it first (its clock started after the key's).
    if (order?.status === 'PENDING') return undefined;
    const [userId] = record.key.split(':', 1);
    const what = `Idempotency-Key of user ${userId} (order ${record.orderId ?? 'unknown'})`;
    if (order && order.status !== 'REJECTED') {
      if (!(await this.idempotency.settle(record, 201, { ...toOrderResponse(order) }))) return undefined;
      this.logger.warn(
        `${what} settled: its request died, the ${order.status} order is the answer to a retry`,
      );
      return 'key_settled';
    }
    // No order yet: free the key only while the request has not recorded one (it may still be running).
    if (!(await this.idempotency.free(record, !order))) return undefined;
    this.logger.warn(
      `${what} freed: its request died ${order ? 'and the order was rejected' : 'before creating the order'}`,
    );
    return 'key_freed';
  }
}
