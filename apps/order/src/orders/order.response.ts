import type { Order } from './order.entity.js';

const money = (cents: number) => Math.round(cents) / 100;

export interface OrderResponse {
  id: string;
  userId: string;
  status: Order['status'];
  lines: { productId: string; name?: string; quantity: number; unitPrice?: number; lineTotal?: number }[];
  total: number | null;
  reason?: string;
  createdAt: string;
  updatedAt: string;
}

export function toOrderResponse(order: Order): OrderResponse {
  return {
    id: order._id.toHexString(),
    userId: order.userId,
    status: order.status,
    lines: order.lines.map((line) => ({
      productId: line.productId,
      ...(line.name !== undefined ? { name: line.name } : {}),
      quantity: line.quantity,
      ...(line.unitPriceCents !== undefined
        ? { unitPrice: money(line.unitPriceCents), lineTotal: money(line.unitPriceCents * line.quantity) }
        : {}),
    })),
    total: order.totalCents === null ? null : money(order.totalCents),
    ...(order.reason ? { reason: order.reason } : {}),
    createdAt: order.createdAt.toISOString(),
    updatedAt: order.updatedAt.toISOString(),
  };
}
