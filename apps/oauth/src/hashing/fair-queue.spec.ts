import { describe, expect, it, vi } from 'vitest';
import { FairQueue, QueueFull } from './fair-queue.js';

/** Work that finishes when the test says so, recording when it started. */
function gate(log: string[], name: string) {
  let open!: () => void;
  const done = new Promise<void>((resolve) => (open = resolve));
  return {
    work: async () => {
      log.push(name);
      await done;
      return name;
    },
    open: () => open(),
  };
}
const settled = () => new Promise((resolve) => setImmediate(resolve));

describe(FairQueue.name, () => {
  it('runs at most its concurrency at once and starts the waiting ones as others finish', async () => {
    const started: string[] = [];
    const queue = new FairQueue(2, 10);
    const jobs = ['a', 'b', 'c', 'd'].map((name) => gate(started, name));
    const results = jobs.map((job) => queue.run('10.0.0.1', job.work));
    await settled();
    expect(started).toEqual(['a', 'b']);
    expect(queue.depth).toBe(2);
    jobs[0].open();
    await settled();
    expect(started).toEqual(['a', 'b', 'c']);
    for (const job of jobs) job.open();
    expect(await Promise.all(results)).toEqual(['a', 'b', 'c', 'd']);
    expect(queue.depth).toBe(0);
  });

  it('refuses at once when the queue is full, and reports its depth on every change', async () => {
    const depths: number[] = [];
    const queue = new FairQueue(1, 2, { onDepthChange: (depth) => depths.push(depth) });
    const started: string[] = [];
    const jobs = ['running', 'w1', 'w2'].map((name) => gate(started, name));
    const [first, ...waiting] = jobs.map((job, i) => queue.run(`10.0.0.${i}`, job.work));
    await expect(queue.run('10.0.0.9', async () => 'never')).rejects.toBeInstanceOf(QueueFull);
    expect(started).toEqual(['running']);
    for (const job of jobs) job.open();
    await Promise.all([first, ...waiting]);
    expect(depths).toEqual([1, 2, 1, 0]);
  });

  it("takes waiting jobs round-robin by key, so one client's burst does not put another behind all of it", async () => {
    const started: string[] = [];
    const queue = new FairQueue(1, 20);
    const running = gate(started, 'running');
    const all = [queue.run('burst', running.work)];
    const jobs = [
      ...['b1', 'b2', 'b3', 'b4'].map((name) => ({ key: 'burst', job: gate(started, name) })),
      { key: 'other', job: gate(started, 'o1') },
    ];
    for (const { key, job } of jobs) {
      all.push(queue.run(key, job.work));
      job.open();
    }
    running.open();
    await Promise.all(all);
    expect(started).toEqual(['running', 'b1', 'o1', 'b2', 'b3', 'b4']);
  });

  it('lets one key hold at most half of the queue, leaving room for everyone else', async () => {
    const started: string[] = [];
    const queue = new FairQueue(1, 4);
    const running = gate(started, 'running');
    const all = [queue.run('burst', running.work)];
    all.push(
      queue.run('burst', async () => 'b1'),
      queue.run('burst', async () => 'b2'),
    );
    await expect(queue.run('burst', async () => 'b3')).rejects.toBeInstanceOf(QueueFull);
    all.push(
      queue.run('other', async () => 'o1'),
      queue.run('other', async () => 'o2'),
    );
    await expect(queue.run('third', async () => 'x')).rejects.toBeInstanceOf(QueueFull);
    running.open();
    expect(await Promise.all(all)).toEqual(['running', 'b1', 'b2', 'o1', 'o2']);
  });

  it('refuses a job that waited maxWaitMs for a free slot, and runs the others', async () => {
    vi.useFakeTimers();
    try {
      const started: string[] = [];
      const depths: number[] = [];
      const queue = new FairQueue(1, 10, { maxWaitMs: 2000, onDepthChange: (depth) => depths.push(depth) });
      const running = gate(started, 'running');
      const first = queue.run('a', running.work);
      const stale = queue.run('b', async () => 'stale');
      const staleOutcome = stale.catch((error: unknown) => error);
      await vi.advanceTimersByTimeAsync(1500);
      const fresh = queue.run('c', async () => 'fresh');
      await vi.advanceTimersByTimeAsync(600);
      expect(await staleOutcome).toBeInstanceOf(QueueFull);
      expect(queue.depth).toBe(1);
      running.open();
      expect(await Promise.all([first, fresh])).toEqual(['running', 'fresh']);
      expect(depths).toEqual([1, 2, 1, 0]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('answers a job not done maxTotalMs after it was asked for, and keeps its slot until the work ends', async () => {
    vi.useFakeTimers();
    try {
      const started: string[] = [];
      const queue = new FairQueue(1, 10, { maxWaitMs: 2000, maxTotalMs: 3000 });
      const slow = gate(started, 'slow');
      const late = queue.run('a', slow.work).catch((error: unknown) => error);
      const stale = queue.run('b', async () => 'stale').catch((error: unknown) => error);
      await vi.advanceTimersByTimeAsync(1500);
      const fast = queue.run('c', async () => 'fast');
      await vi.advanceTimersByTimeAsync(1500);
      // The slow job's caller has its answer at 3 s; nothing else started beside the work still running.
      const outcome = await late;
      expect(outcome).toBeInstanceOf(QueueFull);
      expect((outcome as Error).message).toBe('not done within 3000 ms');
      expect(await stale).toBeInstanceOf(QueueFull); // waited its 2 s for the slot
      expect(started).toEqual(['slow']);
      expect(queue.depth).toBe(1); // c still waits: the slow work holds the only slot
      slow.open();
      expect(await fast).toBe('fast');
    } finally {
      vi.useRealTimers();
    }
  });

  it("never refuses an unbounded job (the owner's own work): past a full queue, maxWaitMs and maxTotalMs it waits its turn within the concurrency, while clients are still refused", async () => {
    vi.useFakeTimers();
    try {
      const started: string[] = [];
      const queue = new FairQueue(1, 1, { maxWaitMs: 2000, maxTotalMs: 3000 });
      const slow = gate(started, 'slow');
      const own = gate(started, 'own');
      const late = queue.run('10.0.0.1', slow.work).catch((error: unknown) => error);
      const stale = queue.run('10.0.0.2', async () => 'stale').catch((error: unknown) => error);
      const seed = queue.run('internal', own.work, { unbounded: true }).catch((error: unknown) => error);
      expect(queue.depth).toBe(2); // beyond maxQueued
      await expect(queue.run('10.0.0.3', async () => 'refused')).rejects.toBeInstanceOf(QueueFull);
      await vi.advanceTimersByTimeAsync(10_000);
      expect(await late).toBeInstanceOf(QueueFull); // a client's answer at 3 s
      expect(await stale).toBeInstanceOf(QueueFull); // a client's wait of 2 s
      expect(started).toEqual(['slow']); // the slow work still holds the only slot: the seed waits
      expect(queue.depth).toBe(1);
      slow.open();
      await vi.advanceTimersByTimeAsync(0);
      expect(started).toEqual(['slow', 'own']);
      await vi.advanceTimersByTimeAsync(10_000); // and its own work may take long too
      own.open();
      expect(await seed).toBe('own');
      expect(queue.depth).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('passes a failure of the work to its caller and goes on with the next', async () => {
    const queue = new FairQueue(1, 2);
    const failing = queue.run('a', async () => {
      throw new Error('scrypt failed');
    });
    const next = queue.run('b', async () => 'ok');
    await expect(failing).rejects.toThrow('scrypt failed');
    expect(await next).toBe('ok');
  });
});
