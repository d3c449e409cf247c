import { UNREADABLE_EVENT } from '#lab/events';
import { describe, expect, it } from 'vitest';
import { OrderEventsDeserializer } from './order-events.server.js';

describe(OrderEventsDeserializer.name, () => {
  const deserializer = new OrderEventsDeserializer();

  it('passes a Nest event packet of a known order event type through', () => {
    expect(deserializer.deserialize({ pattern: 'order.cancelled', data: { a: 1 } })).toEqual({
      pattern: 'order.cancelled',
      data: { a: 1 },
    });
  });

  it.each([
    ['text that was not JSON', '{not json'],
    ['JSON without a pattern', { data: {} }],
    ['an unknown pattern', { pattern: 'order.shipped', data: {} }],
    ['a pattern that is not a string', { pattern: { cmd: 'x' }, data: {} }],
  ])('turns %s into an unreadable event (dead-lettered and counted by the consumer)', (_what, value) => {
    expect(deserializer.deserialize(value)).toEqual({ pattern: UNREADABLE_EVENT, data: value });
  });
});
