import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadlines } from './deadlines.js';

describe(Deadlines.name, () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('calls each callback once its duration has passed, in order, and not before', () => {
    const deadlines = new Deadlines();
    const expired: string[] = [];
    deadlines.add(100, () => expired.push('first'));
    vi.advanceTimersByTime(50);
    deadlines.add(100, () => expired.push('second'));
    deadlines.add(30, () => expired.push('short'));
    vi.advanceTimersByTime(29);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['short']);
    vi.advanceTimersByTime(19);
    expect(expired).toEqual(['short']);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['short', 'first']);
    vi.advanceTimersByTime(49);
    expect(expired).toEqual(['short', 'first']);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['short', 'first', 'second']);
    vi.advanceTimersByTime(1000);
    expect(expired).toHaveLength(3);
  });

  it('calls the deadlines behind one whose callback threw on time, with one timer', () => {
    const deadlines = new Deadlines();
    const expired: string[] = [];
    deadlines.add(50, () => {
      throw new Error('callback failed');
    });
    deadlines.add(50, () => expired.push('second'));
    vi.advanceTimersByTime(49);
    deadlines.add(50, () => expired.push('third'));
    expect(() => vi.advanceTimersByTime(1)).toThrow('callback failed');
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['second']);
    vi.advanceTimersByTime(48);
    expect(expired).toEqual(['second', 'third']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps one timer when a callback adds a deadline of its own duration', () => {
    const deadlines = new Deadlines();
    const expired: string[] = [];
    deadlines.add(50, () => {
      expired.push('first');
      deadlines.add(50, () => expired.push('added'));
    });
    deadlines.add(50, () => expired.push('second'));
    vi.advanceTimersByTime(50);
    expect(expired).toEqual(['first', 'second']);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(50);
    expect(expired).toEqual(['first', 'second', 'added']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('never calls a cancelled deadline back, first in line or not', () => {
    const deadlines = new Deadlines();
    const expired: number[] = [];
    const all = [0, 1, 2, 3].map((i) => {
      vi.advanceTimersByTime(10);
      return deadlines.add(100, () => expired.push(i));
    });
    all[0].cancel();
    all[2].cancel();
    vi.advanceTimersByTime(1000);
    expect(expired).toEqual([1, 3]);
  });

  it('waits with one timer per duration however many deadlines wait, and none once they settled', () => {
    const deadlines = new Deadlines();
    const waiting = Array.from({ length: 1000 }, (_, i) =>
      deadlines.add(i % 2 ? 100 : 5000, () => undefined),
    );
    expect(vi.getTimerCount()).toBe(2);
    for (const deadline of waiting) deadline.cancel();
    vi.advanceTimersByTime(5000);
    expect(vi.getTimerCount()).toBe(0);
    // A later deadline of the same duration arms its timer again.
    let expired = false;
    deadlines.add(100, () => (expired = true));
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(100);
    expect(expired).toBe(true);
  });
});
