import type { UpstreamResponse } from '#lab/http-client';
import type { ReservationAnswer } from '../src/orders/stock.client.js';

/**
 * Stands in for the product service's stock endpoints behind `StockClient` (the real one needs its own
 * service, an oauth token and a JWKS): all-or-nothing reservations per order id, replayed for the same
 * id, and releases that put stock back exactly once (a tombstone when nothing was reserved yet), as
 * apps/product/src/stock does. `down` makes every call fail as an unreachable service does.
 */
export class ProductStockStandIn {
  readonly stock = new Map<string, number>();
  readonly reservations = new Map<
    string,
    { status: 'RESERVED' | 'RELEASED'; lines: { productId: string; quantity: number }[] }
  >();
  releaseCalls = 0;
  down = false;

  product(id: string, stock: number): string {
    this.stock.set(id, stock);
    return id;
  }

  async reserve(
    orderId: string,
    lines: { productId: string; quantity: number }[],
  ): Promise<UpstreamResponse<ReservationAnswer>> {
    this.failIfDown();
    const existing = this.reservations.get(orderId);
    if (existing?.status === 'RESERVED')
      return this.answer(200, { orderId, status: 'RESERVED', lines: this.priced(existing.lines) });
    if (existing) return this.answer(409, { orderId, status: 'RELEASED', code: 'reservation_released' });
    for (const line of lines) {
      const available = this.stock.get(line.productId);
      if (available === undefined)
        return this.answer(404, {
          orderId,
          status: 'FAILED',
          code: 'unknown_product',
          productId: line.productId,
        });
      if (available < line.quantity)
        return this.answer(409, {
          orderId,
          status: 'FAILED',
          code: 'out_of_stock',
          productId: line.productId,
          available,
        });
    }
    for (const line of lines)
      this.stock.set(line.productId, (this.stock.get(line.productId) ?? 0) - line.quantity);
    this.reservations.set(orderId, { status: 'RESERVED', lines });
    return this.answer(201, { orderId, status: 'RESERVED', lines: this.priced(lines) });
  }

  async release(orderId: string): Promise<void> {
    this.failIfDown();
    this.releaseCalls++;
    const existing = this.reservations.get(orderId);
    if (existing?.status === 'RESERVED') {
      for (const line of existing.lines)
        this.stock.set(line.productId, (this.stock.get(line.productId) ?? 0) + line.quantity);
    }
    this.reservations.set(orderId, { status: 'RELEASED', lines: existing?.lines ?? [] });
  }

  private priced(lines: { productId: string; quantity: number }[]) {
    return lines.map((line) => ({ ...line, name: `Product ${line.productId.slice(-4)}`, unitPrice: 2.5 }));
  }

  private answer(status: number, body: ReservationAnswer): UpstreamResponse<ReservationAnswer> {
    return { status, headers: {}, body };
  }

  private failIfDown(): void {
    if (this.down) throw new Error('the product service is unreachable (stand-in down)');
  }
}

/**
 * Stands in for the customer service's `GET /customers/me` behind `ServiceClient`: 200 for everyone
 * (404 while `missing`), or held until {@link release} is called (a request stuck before it creates its order).
 */
export class CustomerServiceStandIn {
  private held?: Promise<void>;
  private let?: () => void;
  /** Calls received so far. */
  calls = 0;
  /** Answer 404 (the buyer has no profile). */
  missing = false;

  hold(): void {
    this.held = new Promise((resolve) => (this.let = resolve));
  }

  release(): void {
    this.let?.();
    this.held = undefined;
  }

  async call(): Promise<UpstreamResponse> {
    this.calls++;
    await this.held;
    return { status: this.missing ? 404 : 200, headers: {}, body: {} };
  }
}
