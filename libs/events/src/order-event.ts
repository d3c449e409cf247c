import { objectIdFrom } from '#lab/database';
/** The order events: what the order service publishes, what the customer service consumes. */
export const ORDER_EVENT_TYPES = ['order.confirmed', 'order.cancelled', 'order.rejected'] as const;
export type OrderEventType = (typeof ORDER_EVENT_TYPES)[number];

/** Raised by a consumer for a message it cannot read (`events_consumed_total{type="unknown"}`). */
export const UNREADABLE_EVENT = 'order.unreadable';

/** Bumped on a change a consumer of the previous version could misread. */
export const ORDER_EVENT_SCHEMA_VERSION = 1;

export interface OrderEventLine {
  productId: string;
  quantity: number;
  /** Unit price in the catalogue's currency (absent on a rejected order: never priced). */
  unitPrice?: number;
}

export interface OrderEvent {
  /** `<orderId>:<type>`: an order has at most one event of each type, so an event written twice is one event. */
  eventId: string;
  type: OrderEventType;
  schemaVersion: number;
  orderId: string;
  userId: string;
  /** The order's total in the catalogue's currency; null on a rejected order. */
  total: number | null;
  lines: OrderEventLine[];
  /** ISO 8601: when the status change happened (not when it was published). */
  occurredAt: string;
}

export const orderEventId = (orderId: string, type: OrderEventType): string => `${orderId}:${type}`;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The event in `data`, checked field by field; a string saying what is wrong otherwise. A newer schema
 * version is refused (a consumer must not guess at fields it does not know).
 */
export function parseOrderEvent(data: unknown): OrderEvent | string {
  if (!isRecord(data)) return 'not an object';
  const { eventId, type, schemaVersion, orderId, userId, total, lines, occurredAt } = data;
  if (typeof type !== 'string' || !(ORDER_EVENT_TYPES as readonly string[]).includes(type))
    return `unknown type ${String(type)}`;
  if (schemaVersion !== ORDER_EVENT_SCHEMA_VERSION)
    return `unsupported schemaVersion ${String(schemaVersion)}`;
  if (typeof orderId !== 'string' || !objectIdFrom(orderId)) return 'orderId must be an order id';
  if (eventId !== orderEventId(orderId, type as OrderEventType)) return 'eventId must be <orderId>:<type>';
  if (typeof userId !== 'string' || userId.length === 0 || userId.length > 200)
    return 'userId must be a non-empty string';
  if (total !== null && (typeof total !== 'number' || !Number.isFinite(total) || total < 0))
    return 'total must be a number ≥ 0 or null';
  if (typeof occurredAt !== 'string' || Number.isNaN(Date.parse(occurredAt)))
    return 'occurredAt must be an ISO date';
  if (!Array.isArray(lines) || lines.length > 1000) return 'lines must be an array';
  const parsed: OrderEventLine[] = [];
  for (const line of lines) {
    if (!isRecord(line) || typeof line.productId !== 'string' || !Number.isInteger(line.quantity))
      return 'a line must have productId and quantity';
    const unitPrice = typeof line.unitPrice === 'number' ? { unitPrice: line.unitPrice } : {};
    parsed.push({ productId: line.productId, quantity: line.quantity as number, ...unitPrice });
  }
  return {
    eventId,
    type: type as OrderEventType,
    schemaVersion,
    orderId,
    userId,
    total: total as number | null,
    lines: parsed,
    occurredAt,
  };
}
