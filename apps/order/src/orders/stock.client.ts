import { Injectable } from '@nestjs/common';
import { ServiceClient, type UpstreamResponse } from '#lab/http-client';
import { ServiceTokenProvider } from './service-token.provider.js';

export interface ReservationAnswer {
  orderId: string;
  status: string;
  lines?: { productId: string; name: string; quantity: number; unitPrice: number }[];
  /** Problem fields when the reservation was refused. */
  code?: string;
  productId?: string;
  available?: number;
  detail?: string;
}

/** The product service's internal stock endpoints, called with this service's own token. */
@Injectable()
export class StockClient {
  constructor(
    private readonly http: ServiceClient,
    private readonly tokens: ServiceTokenProvider,
  ) {}

  reserve(
    orderId: string,
    lines: { productId: string; quantity: number }[],
  ): Promise<UpstreamResponse<ReservationAnswer>> {
    return this.withToken((token) =>
      this.http.call<ReservationAnswer>('product', 'PUT', `/stock/reservations/${orderId}`, {
        json: { lines },
        token,
      }),
    );
  }

  /** Throws unless the product service confirms the release (it is idempotent there). */
  async release(orderId: string): Promise<void> {
    const response = await this.withToken((token) =>
      this.http.call('product', 'DELETE', `/stock/reservations/${orderId}`, { token }),
    );
    if (response.status !== 200)
      throw new Error(`the product service answered ${response.status} to a release of ${orderId}`);
  }

  /** A 401 may mean our cached token was signed by a key since retired: fetch a new one and try once more. */
  private async withToken<T>(
    call: (token: string) => Promise<UpstreamResponse<T>>,
  ): Promise<UpstreamResponse<T>> {
    const response = await call(await this.tokens.token());
    if (response.status !== 401) return response;
    this.tokens.invalidate();
    return call(await this.tokens.token());
  }
}
