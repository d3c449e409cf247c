import { Injectable, Logger, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { hasScope, type Principal, Scope } from '#lab/auth';
import { objectIdFrom, type PageQueryDto, pageWindow } from '#lab/database';
import { type ErrorCode, errorCode, LabError } from '#lab/errors';
import { dependencyUnavailable, ServiceClient, UpstreamUnavailableError } from '#lab/http-client';
import { ObjectId } from 'mongodb';
import { Span, TraceService } from 'nestjs-otel';
import type { MongoRepository } from 'typeorm';
import type { OrderLineDto } from './dto/create-order.dto.js';
import { IdempotencyService, type KeyedOrder, type Outcome, requestHashOf } from './idempotency.service.js';
import { Order, type OrderLine, type StoredAnswer } from './order.entity.js';
import { OrderActivity } from './order-activity.js';
import { OrderMetrics, type OrderOutcome } from './order.metrics.js';
import { type OrderResponse, toOrderResponse } from './order.response.js';
import { pushToOutbox } from '../events/outbox.js';
import { StockClient } from './stock.client.js';

const cents = (amount: number) => Math.round(amount * 100);
/** 503 for a dependency that failed (`circuit_open` with Retry-After while its breaker is open). */
const unavailable = (what: string, cause?: unknown) =>
  dependencyUnavailable(`${what} is unavailable; nothing was reserved, try again`, cause);

/**
 * Places orders as a saga: check the customer, create the order PENDING, reserve its stock at the
 * product service, confirm. Any failure after the reservation may have happened releases it
 * (compensation), retried by {@link CompensationService} until the product service confirms.
 */
@Injectable()
export class OrdersService {
  private readonly logger = new Logger('Orders');

  constructor(
    @InjectRepository(Order) private readonly orders: MongoRepository<Order>,
    private readonly idempotency: IdempotencyService,
    private readonly stock: StockClient,
    private readonly http: ServiceClient,
    private readonly metrics: OrderMetrics,
    private readonly traces: TraceService,
    private readonly activity: OrderActivity,
  ) {}

  /** Tells the background passes (compensation sweep, outbox relay) that orders changed. */
  private notifyWritten(): void {
    this.activity.written();
  }

  /** In an `order.create` span; every placement counts once in `orders_total{outcome}`. */
  @Span('order.create', (user: Principal, _authorization: string, _key: string, lines: OrderLineDto[]) => ({
    attributes: { 'order.line_count': lines.length, 'enduser.id': user.subject },
  }))
  async create(
    user: Principal,
    authorization: string,
    key: string,
    lines: OrderLineDto[],
  ): Promise<Outcome<OrderResponse>> {
    let replayed: boolean | undefined;
    try {
      const request = lines.map(({ productId, quantity }) => ({ productId, quantity }));
      if (new Set(request.map((line) => line.productId)).size !== request.length) {
        throw new LabError('duplicate_product', 'list each product once per order');
      }
      replayed = true;
      const { outcome, placed } = await this.place(user, authorization, key, request, () => {
        replayed = false;
      });
      this.traces.getSpan()?.setAttributes({ 'order.id': outcome.body.id, 'order.replayed': !placed });
      this.metrics.orders.inc({ outcome: placed ? 'confirmed' : 'replayed' });
      return outcome;
    } catch (error) {
      const outcome = outcomeOf(error);
      // A replayed failure (the first attempt's 409, say) is a replay, not a second failure.
      this.metrics.orders.inc({
        outcome: replayed === true && outcome !== 'idempotency_conflict' ? 'replayed' : outcome,
      });
      throw error;
    }
  }

  /**
   * The saga, in as few writes as it can be: the order goes in PENDING with its key (one insert, while
   * the customer check runs), the stock is reserved, and one update settles the order with the answer
   * to replay. `claimed` is called once this request holds the key.
   */
  private async place(
    user: Principal,
    authorization: string,
    key: string,
    lines: OrderLine[],
    claimed: () => void,
  ): Promise<{ outcome: Outcome<OrderResponse>; placed: boolean }> {
    const now = new Date();
    const order: KeyedOrder = this.orders.create({
      _id: new ObjectId(),
      userId: user.subject,
      status: 'PENDING' as const,
      lines,
      totalCents: null,
      reason: null,
      releasePending: false,
      idempotencyKey: `${user.subject}:${key}`,
      requestHash: requestHashOf(lines),
      answer: null,
      createdAt: now,
      updatedAt: now,
    }) as KeyedOrder;
    // The customer check (a read at the customer service) runs while the key is claimed.
    const customerChecked = this.checkCustomer(authorization).then(
      () => undefined,
      (error: unknown) => ({ error }),
    );
    const earlier = await this.idempotency.claim<OrderResponse>(order);
    if (earlier) return { outcome: earlier, placed: false };
    claimed();
    this.notifyWritten();
    const orderId = order._id.toHexString();
    this.traces.getSpan()?.setAttributes({ 'order.id': orderId });
    const customer = await customerChecked;
    if (customer) {
      // Nothing was reserved: the order goes as if it had never been, and its key with it.
      await this.orders.deleteOne({ _id: order._id, status: 'PENDING' });
      throw customer.error;
    }

    let answer;
    try {
      answer = await this.stock.reserve(orderId, lines);
    } catch (error) {
      // Unknown whether the product service reserved anything: release until it confirms.
      await this.reject(order, 'dependency_unavailable', true);
      this.logger.warn(
        `order ${orderId} rejected: ${error instanceof Error ? error.message : String(error)}`,
      );
      throw unavailable('the product service', error);
    }

    const { status, body } = answer;
    if (status === 200 || status === 201) {
      const priced: OrderLine[] = (body.lines ?? []).map((line) => ({
        productId: line.productId,
        name: line.name,
        quantity: line.quantity,
        unitPriceCents: cents(line.unitPrice),
      }));
      const totalCents = priced.reduce((sum, line) => sum + (line.unitPriceCents ?? 0) * line.quantity, 0);
      const settled = { status: 'CONFIRMED' as const, lines: priced, totalCents, updatedAt: new Date() };
      const response = toOrderResponse({ ...order, ...settled });
      const confirmed = await this.orders.updateOne(
        { _id: order._id, status: 'PENDING' },
        {
          $set: { ...settled, answer: { status: 201, body: { ...response } } },
          ...pushToOutbox('order.confirmed'),
        },
      );
      if (confirmed.modifiedCount !== 1) {
        // The compensation sweep gave up on this order meanwhile; it also releases the stock.
        throw unavailable('the order store');
      }
      this.logger.log(`order ${orderId} confirmed: ${priced.length} lines, total ${totalCents / 100}`);
      return { outcome: { status: 201, body: response }, placed: true };
    }
    const refuse = async (reason: string, error: LabError): Promise<never> => {
      await this.reject(order, reason, false, { status: error.status, body: error.toRecord() });
      throw error;
    };
    if (status === 409 && body.code === 'out_of_stock') {
      return refuse(
        'out_of_stock',
        new LabError('out_of_stock', `not enough stock for product ${body.productId}`, {
          details: { productId: body.productId, available: body.available },
        }),
      );
    }
    if (status === 404) {
      return refuse(
        'unknown_product',
        new LabError('unknown_product', `product ${body.productId ?? ''} does not exist`.trim(), {
          details: { productId: body.productId },
        }),
      );
    }
    if (status === 400 || status === 422) {
      return refuse(
        'invalid',
        new LabError('invalid_lines', body.detail ?? 'the product service refused the order lines'),
      );
    }
    await this.reject(order, 'dependency_unavailable', true);
    this.logger.warn(`order ${orderId} rejected: the product service answered ${status}`);
    throw unavailable('the product service');
  }

  /** The customer must exist; the user's own token is relayed, so the customer service checks it too. */
  private async checkCustomer(authorization: string): Promise<void> {
    let status: number;
    try {
      ({ status } = await this.http.call('customer', 'GET', '/customers/me', { headers: { authorization } }));
    } catch (error) {
      if (error instanceof UpstreamUnavailableError) throw unavailable('the customer service', error);
      throw error;
    }
    if (status === 404)
      throw new LabError('no_customer_profile', 'create your customer profile before ordering');
    if (status !== 200) throw unavailable('the customer service');
  }

  /**
   * Marks the order REJECTED with the refusal to replay (`answer`); without one (a 5xx), its key is freed
   * for a retry. With `releaseStock`, releases what may have been reserved (retried later if that fails).
   */
  private async reject(
    order: Order,
    reason: string,
    releaseStock: boolean,
    answer?: StoredAnswer,
  ): Promise<void> {
    await this.orders.updateOne(
      { _id: order._id, status: 'PENDING' },
      {
        $set: {
          status: 'REJECTED',
          reason,
          releasePending: releaseStock,
          updatedAt: new Date(),
          ...(answer && { answer }),
        },
        ...(answer ? {} : { $unset: { idempotencyKey: '' } }),
        ...pushToOutbox('order.rejected'),
      },
    );
    this.notifyWritten();
    if (releaseStock) await this.releaseQuietly(order._id);
  }

  /** One release attempt; on success clears `releasePending`. Returns whether it succeeded. */
  async releaseQuietly(id: ObjectId): Promise<boolean> {
    try {
      await this.stock.release(id.toHexString());
      await this.orders.updateOne({ _id: id }, { $set: { releasePending: false, updatedAt: new Date() } });
      return true;
    } catch (error) {
      this.logger.warn(
        `release of order ${id.toHexString()} failed, will retry: ${error instanceof Error ? error.message : String(error)}`,
      );
      return false;
    }
  }

  async findVisible(user: Principal, id: string): Promise<Order> {
    const _id = objectIdFrom(id);
    const order = _id ? await this.orders.findOneBy({ _id }) : null;
    if (!order || (order.userId !== user.subject && !hasScope(user, Scope.Admin)))
      throw new NotFoundException(`order ${id} not found`);
    return order;
  }

  async list(user: Principal, query: PageQueryDto): Promise<{ items: Order[]; total: number }> {
    const where = hasScope(user, Scope.Admin) ? {} : { userId: user.subject };
    const [items, total] = await this.orders.findAndCount({
      where,
      order: { createdAt: 'DESC' },
      ...pageWindow(query),
    });
    return { items, total };
  }

  /**
   * CONFIRMED → CANCELLING (the intent, persisted first) → release the stock → CANCELLED, so a crash at
   * any step leaves a CANCELLING order that {@link CompensationService} finishes. Cancelling a cancelled
   * order changes nothing; a CANCELLING one is finished by this call. In an `order.cancel` span;
   * counted in `order_cancellations_total{result}`.
   */
  @Span('order.cancel', (user: Principal, id: string) => ({
    attributes: { 'order.id': id, 'enduser.id': user.subject },
  }))
  async cancel(user: Principal, id: string): Promise<Order> {
    const span = this.traces.getSpan();
    const order = await this.findVisible(user, id);
    span?.setAttribute('order.status_before', order.status);
    if (order.status === 'CANCELLED') {
      this.metrics.cancellations.inc({ result: 'already_cancelled' });
      return order;
    }
    const cancelling = order.status === 'CONFIRMED' ? await this.markCancelling(order) : order;
    if (cancelling.status === 'CANCELLED') {
      this.metrics.cancellations.inc({ result: 'already_cancelled' });
      return cancelling;
    }
    if (cancelling.status !== 'CANCELLING') {
      this.metrics.cancellations.inc({ result: 'not_cancellable' });
      throw new LabError('not_cancellable', `a ${cancelling.status.toLowerCase()} order cannot be cancelled`);
    }
    try {
      const cancelled = await this.completeCancel(cancelling._id);
      this.metrics.cancellations.inc({ result: 'cancelled' });
      return cancelled;
    } catch (error) {
      this.metrics.cancellations.inc({ result: 'deferred' });
      span?.setAttribute('order.cancel_deferred', true);
      this.logger.warn(
        `cancel of order ${id} deferred (CANCELLING): release failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      throw dependencyUnavailable(
        'the product service is unavailable: the order is CANCELLING, and its stock is released and the order CANCELLED as soon as it answers (retrying the cancel is harmless)',
        error,
      );
    }
  }

  /** CONFIRMED → CANCELLING; answers the order as it is after (another request may have moved it first). */
  private async markCancelling(order: Order): Promise<Order> {
    const marked = await this.orders.findOneAndUpdate(
      { _id: order._id, status: 'CONFIRMED' },
      { $set: { status: 'CANCELLING', updatedAt: new Date() } },
      { returnDocument: 'after' },
    );
    if (marked) {
      this.notifyWritten();
      this.logger.log(`order ${order._id.toHexString()} cancelling: releasing its stock`);
      return this.orders.create(marked as Order);
    }
    return (await this.orders.findOneBy({ _id: order._id })) ?? order;
  }

  /**
   * Releases the stock of a CANCELLING order (idempotent at the product service), then CANCELLING →
   * CANCELLED. Throws when the product service does not confirm the release; the order stays CANCELLING.
   */
  async completeCancel(id: ObjectId): Promise<Order> {
    const orderId = id.toHexString();
    await this.stock.release(orderId);
    const cancelled = await this.orders.findOneAndUpdate(
      { _id: id, status: 'CANCELLING' },
      { $set: { status: 'CANCELLED', updatedAt: new Date() }, ...pushToOutbox('order.cancelled') },
      { returnDocument: 'after' },
    );
    if (cancelled) {
      this.notifyWritten();
      this.logger.log(`order ${orderId} cancelled: stock released`);
    }
    const order = cancelled ?? (await this.orders.findOneBy({ _id: id }));
    if (!order) throw new NotFoundException(`order ${orderId} not found`);
    return this.orders.create(order as Order);
  }
}

const OUTCOME_OF_CODE: Readonly<Partial<Record<ErrorCode, OrderOutcome>>> = {
  out_of_stock: 'out_of_stock',
  unknown_product: 'unknown_product',
  invalid_lines: 'invalid',
  duplicate_product: 'invalid',
  no_customer_profile: 'invalid',
  dependency_unavailable: 'dependency_unavailable',
  circuit_open: 'dependency_unavailable',
  idempotency_in_progress: 'idempotency_conflict',
  idempotency_key_reused: 'idempotency_conflict',
};

/** The `orders_total` outcome of a failed placement, from the code it answers with. */
export function outcomeOf(error: unknown): OrderOutcome {
  const code = errorCode(error);
  return (code && OUTCOME_OF_CODE[code]) || 'failed';
}
