import type { OrderSummaryResponse } from '../order-summary/order-summary.js';
import { toOrderSummaryResponse } from '../order-summary/order-summary.js';
import type { Address, Customer } from './customer.entity.js';

export interface CustomerResponse {
  id: string;
  userId: string;
  email: string;
  name: string;
  address: Address | null;
  createdAt: string;
  updatedAt: string;
  /** Confirmed orders, kept from the order events; null when the lab runs without events (no broker). */
  orders: OrderSummaryResponse | null;
}

/** `eventsOn`: the lab runs with a broker (AMQP_URL), so the order summary is kept; else `orders` is null. */
export function toCustomerResponse(customer: Customer, eventsOn = false): CustomerResponse {
  return {
    id: customer._id.toHexString(),
    userId: customer.userId,
    email: customer.email,
    name: customer.name,
    address: customer.address ?? null,
    createdAt: customer.createdAt.toISOString(),
    updatedAt: customer.updatedAt.toISOString(),
    orders: toOrderSummaryResponse(customer.orderSummary, eventsOn),
  };
}
