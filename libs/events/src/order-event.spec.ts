import { describe, expect, it } from 'vitest';
import { ORDER_EVENT_SCHEMA_VERSION, type OrderEvent, orderEventId, parseOrderEvent } from './order-event.js';

const orderId = '6b02a11c19332a75ac563a42';
const event = (changes: Record<string, unknown> = {}): Record<string, unknown> => ({
  eventId: orderEventId(orderId, 'order.confirmed'),
  type: 'order.confirmed',
  schemaVersion: ORDER_EVENT_SCHEMA_VERSION,
  orderId,
  userId: 'u1',
  total: 37.5,
  lines: [{ productId: 'p1', quantity: 3, unitPrice: 12.5 }],
  occurredAt: '2026-12-06T13:00:00.000Z',
  ...changes,
});

describe(parseOrderEvent.name, () => {
  it('reads a well-formed event, dropping fields it does not know', () => {
    const parsed = parseOrderEvent({ ...event(), extra: 'ignored' }) as OrderEvent;
    expect(parsed).toEqual(event());
  });

  it('accepts a rejected order without a total or prices', () => {
    const rejected = event({
      eventId: `${orderId}:order.rejected`,
      type: 'order.rejected',
      total: null,
      lines: [{ productId: 'p1', quantity: 1 }],
    });
    expect(parseOrderEvent(rejected)).toEqual(rejected);
  });

  it.each([
    ['not an object', 'x'],
    ['an unknown type', event({ type: 'order.shipped' })],
    ['a newer schema version', event({ schemaVersion: ORDER_EVENT_SCHEMA_VERSION + 1 })],
    ['a malformed order id', event({ orderId: 'nope' })],
    ['an eventId that is not <orderId>:<type>', event({ eventId: 'random' })],
    ['a negative total', event({ total: -1 })],
    ['a date that is not one', event({ occurredAt: 'yesterday' })],
    ['lines that are not lines', event({ lines: [{ quantity: 'many' }] })],
  ])('refuses %s (the consumer dead-letters it)', (_what, value) => {
    expect(typeof parseOrderEvent(value)).toBe('string');
  });
});
