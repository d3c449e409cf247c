import { afterEach, describe, expect, it, vi } from 'vitest';
import { CursorRegistry } from './cursors.js';

const MINUTE = 60_000;
const docs = (n: number) => Array.from({ length: n }, (_, i) => ({ _id: i }));

describe('CursorRegistry', () => {
  afterEach(() => vi.useRealTimers());

  it('drops cursors idle for 10 minutes when the next one opens, and keeps those used since', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const registry = new CursorRegistry();
    const [a, b, c] = [1, 2, 3].map(() => registry.open('db.c', docs(5), 1).id.toNumber());
    vi.advanceTimersByTime(5 * MINUTE);
    expect(registry.more(a, 'db.c', 1).batch).toEqual([{ _id: 1 }]);
    vi.advanceTimersByTime(6 * MINUTE);
    registry.open('db.c', docs(5), 1);
    // b and c were last used at 0, a at 5 minutes.
    expect(registry.size).toBe(2);
    expect(registry.more(a, 'db.c', 1).batch).toEqual([{ _id: 2 }]);
    for (const id of [b, c]) expect(() => registry.more(id, 'db.c', 1)).toThrow(/cursor id \d+ not found/);
  });

  it('a cursor used again goes behind the others: idle ones after it are still dropped', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const registry = new CursorRegistry();
    const first = registry.open('db.c', docs(5), 1).id.toNumber();
    vi.advanceTimersByTime(1 * MINUTE);
    const second = registry.open('db.c', docs(5), 1).id.toNumber();
    vi.advanceTimersByTime(1 * MINUTE);
    registry.more(first, 'db.c', 1);
    vi.advanceTimersByTime(9.5 * MINUTE);
    registry.open('db.c', docs(1), 0);
    expect(() => registry.more(second, 'db.c', 1)).toThrow(/not found/);
    expect(registry.more(first, 'db.c', 10).id.toNumber()).toBe(0);
    expect(registry.size).toBe(1);
  });

  it('closes a cursor once its last batch is handed out', () => {
    const registry = new CursorRegistry();
    const { id, batch } = registry.open('db.c', docs(3), 2);
    expect(batch).toHaveLength(2);
    const last = registry.more(id.toNumber(), 'db.c', 5);
    expect(last.id.toNumber()).toBe(0);
    expect(last.batch).toEqual([{ _id: 2 }]);
    expect(registry.size).toBe(0);
  });
});
