import { describe, expect, it } from 'vitest';
import { Journal, type JournalFs, frame, readFrames } from './journal.js';

/** An in-memory file system whose fsyncs finish only when the test says so. */
function fakeFs() {
  const files = new Map<number, { path: string; data: Buffer[] }>();
  const writes: Array<{ fd: number; bytes: number }> = [];
  const fsyncs: Array<{ path: string; done: () => void }> = [];
  let nextFd = 10;
  const fs: JournalFs = {
    openSync: (path) => {
      files.set(nextFd, { path, data: [] });
      return nextFd++;
    },
    writeSync: (fd, buffer, offset, length) => {
      files.get(fd)?.data.push(Buffer.from(buffer.subarray(offset, offset + length)));
      writes.push({ fd, bytes: length });
      return length;
    },
    fsync: (fd) => new Promise<void>((done) => fsyncs.push({ path: files.get(fd)?.path ?? '?', done })),
    closeSync: () => undefined,
  };
  const contents = (path: string) =>
    Buffer.concat([...files.values()].filter((f) => f.path === path).flatMap((f) => f.data));
  return { fs, writes, fsyncs, contents };
}

const tick = () => new Promise((done) => setImmediate(done));
const settle = async () => {
  for (let i = 0; i < 5; i++) await tick();
};

describe(Journal.name, () => {
  it('writes the records of one event-loop turn with a single write, in order', async () => {
    const { fs, writes, contents } = fakeFs();
    const progress: number[] = [];
    const journal = new Journal('/data/journal.000001', '/data', fs, () => progress.push(journal.writtenSeq));
    journal.append(Buffer.from('one'));
    journal.append(Buffer.from('two'));
    journal.append(Buffer.from('three'));
    expect(journal.writtenSeq).toBe(0);
    await tick();
    expect(writes).toHaveLength(1);
    expect(journal.writtenSeq).toBe(3);
    expect(progress).toEqual([3]);
    const { bodies, problem } = readFrames(contents('/data/journal.000001'));
    expect(bodies.map(String)).toEqual(['one', 'two', 'three']);
    expect(problem).toBeUndefined();
  });

  it('shares one fsync among every sync() that arrives while another is running (group commit)', async () => {
    const { fs, fsyncs } = fakeFs();
    const journal = new Journal('/data/journal.000001', '/data', fs, () => undefined);
    journal.append(Buffer.from('a'));
    const first = journal.sync();
    const resolved: string[] = [];
    void first.then(() => resolved.push('a'));
    await settle();
    expect(fsyncs.map((f) => f.path)).toEqual(['/data/journal.000001']);

    for (const name of ['b', 'c', 'd']) {
      journal.append(Buffer.from(name));
      void journal.sync().then(() => resolved.push(name));
    }
    await settle();
    expect(fsyncs).toHaveLength(1); // b, c and d wait for the running fsync to end
    fsyncs[0].done();
    await settle();
    // Then the directory (the file is new), then one fsync for b, c and d together.
    expect(fsyncs.map((f) => f.path)).toEqual(['/data/journal.000001', '/data']);
    fsyncs[1].done();
    await settle();
    expect(resolved).toEqual(['a']);
    expect(fsyncs.map((f) => f.path)).toEqual(['/data/journal.000001', '/data', '/data/journal.000001']);
    fsyncs[2].done();
    await settle();
    expect(resolved).toEqual(['a', 'b', 'c', 'd']);
    expect(journal.syncedSeq).toBe(4);
    expect(fsyncs).toHaveLength(3);
  });

  it('fsyncs the file it rotated away from before answering a sync of the new one', async () => {
    const { fs, fsyncs } = fakeFs();
    const journal = new Journal('/data/journal.000001', '/data', fs, () => undefined);
    journal.append(Buffer.from('old'));
    journal.rotate('/data/journal.000002');
    journal.append(Buffer.from('new'));
    let synced = false;
    void journal.sync().then(() => (synced = true));
    for (let i = 0; i < 4; i++) {
      await settle();
      fsyncs[i]?.done();
    }
    await settle();
    expect(fsyncs.map((f) => f.path)).toEqual(['/data/journal.000001', '/data/journal.000002', '/data']);
    expect(synced).toBe(true);
  });

  it('reports a failed write as fatal and accepts nothing after it', async () => {
    const { fs } = fakeFs();
    const errors: Error[] = [];
    const failing: JournalFs = {
      ...fs,
      writeSync: () => {
        throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      },
    };
    const journal = new Journal(
      '/data/journal.000001',
      '/data',
      failing,
      (error) => error && errors.push(error),
    );
    journal.append(Buffer.from('lost'));
    const sync = journal.sync();
    await expect(sync).rejects.toThrow('journal write to /data/journal.000001 failed: ENOSPC');
    expect(errors).toHaveLength(1);
    expect(journal.writtenSeq).toBe(0);
    expect(() => journal.append(Buffer.from('more'))).toThrow('ENOSPC');
  });
});

describe(readFrames.name, () => {
  it('stops at a record cut off or failing its checksum and says where', () => {
    const records = Buffer.concat([frame(Buffer.from('first')), frame(Buffer.from('second'))]);
    expect(readFrames(records).bodies.map(String)).toEqual(['first', 'second']);

    const cut = records.subarray(0, records.length - 2);
    expect(readFrames(cut)).toMatchObject({
      validBytes: 13,
      problem: 'a record of 6 bytes cut off at byte 13',
    });
    expect(readFrames(records.subarray(0, 16)).problem).toBe('a record header cut off at byte 13');

    const flipped = Buffer.from(records);
    flipped[records.length - 1] ^= 1;
    expect(readFrames(flipped)).toMatchObject({
      validBytes: 13,
      problem: 'a record failing its checksum at byte 13',
    });
  });
});
