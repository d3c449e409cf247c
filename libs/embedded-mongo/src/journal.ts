import * as nodeFs from 'node:fs';
import { crc32 } from 'node:zlib';

/** The file operations the journal needs; tests count or fail them through their own implementation. */
export interface JournalFs {
  openSync(path: string, flags: string): number;
  writeSync(fd: number, buffer: Buffer, offset: number, length: number): number;
  fsync(fd: number): Promise<void>;
  closeSync(fd: number): void;
}

export const nodeJournalFs: JournalFs = {
  openSync: (path, flags) => nodeFs.openSync(path, flags),
  writeSync: (fd, buffer, offset, length) => nodeFs.writeSync(fd, buffer, offset, length),
  fsync: (fd) => new Promise((done, fail) => nodeFs.fsync(fd, (error) => (error ? fail(error) : done()))),
  closeSync: (fd) => nodeFs.closeSync(fd),
};

/** Each record: body length (uint32 LE), CRC-32 of the body (uint32 LE), then the body. */
const FRAME_HEADER = 8;

export function frame(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + body.length);
  out.writeUInt32LE(body.length, 0);
  out.writeUInt32LE(crc32(body), 4);
  out.set(body, FRAME_HEADER);
  return out;
}

export interface Frames {
  readonly bodies: Buffer[];
  /** Bytes of whole, intact records; anything after them is `data.length - validBytes`. */
  readonly validBytes: number;
  /** Why reading stopped before the end, when it did. */
  readonly problem: string | undefined;
}

/** Splits a file into record bodies, stopping at the first record that is cut off or fails its checksum. */
export function readFrames(data: Buffer): Frames {
  const bodies: Buffer[] = [];
  let offset = 0;
  while (offset < data.length) {
    if (data.length - offset < FRAME_HEADER)
      return { bodies, validBytes: offset, problem: `a record header cut off at byte ${offset}` };
    const length = data.readUInt32LE(offset);
    const end = offset + FRAME_HEADER + length;
    if (end > data.length)
      return { bodies, validBytes: offset, problem: `a record of ${length} bytes cut off at byte ${offset}` };
    const body = data.subarray(offset + FRAME_HEADER, end);
    if (crc32(body) !== data.readUInt32LE(offset + 4))
      return { bodies, validBytes: offset, problem: `a record failing its checksum at byte ${offset}` };
    bodies.push(body);
    offset = end;
  }
  return { bodies, validBytes: offset, problem: undefined };
}

interface SyncWaiter {
  readonly seq: number;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * The write-ahead journal: records appended during one turn of the event loop are written with a
 * single write(2) at its end (in the check phase), so they have reached the OS before any reply of
 * that turn is sent; `sync()` adds an fsync, shared by every caller waiting at the time (group commit).
 * Sequence numbers count records over the life of the journal, across file rotations.
 */
export class Journal {
  private fd: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  private appended = 0;
  private written = 0;
  private synced = 0;
  /** fds of files rotated away from whose last writes are not yet fsynced. */
  private unsyncedFds: number[] = [];
  private dirUnsynced = true;
  private syncing = false;
  private syncRun: Promise<void> = Promise.resolve();
  private waiters: SyncWaiter[] = [];
  private failure: Error | undefined;
  /** Bytes written to the current file. */
  bytes = 0;

  constructor(
    private path: string,
    private readonly dir: string,
    private readonly fs: JournalFs,
    /** Called after every write and fsync, so held replies can go out; and with the error when one fails. */
    private readonly onProgress: (error?: Error) => void,
  ) {
    this.fd = fs.openSync(path, 'a');
  }

  get appendedSeq(): number {
    return this.appended;
  }

  get writtenSeq(): number {
    return this.written;
  }

  get syncedSeq(): number {
    return this.synced;
  }

  get failed(): Error | undefined {
    return this.failure;
  }

  append(body: Uint8Array): void {
    if (this.failure) throw this.failure;
    const record = frame(body);
    this.pending.push(record);
    this.pendingBytes += record.length;
    this.appended++;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.write());
    }
  }

  /** Writes every appended record now (it is otherwise done at the end of the event-loop turn). */
  write(): void {
    this.scheduled = false;
    if (this.pending.length === 0 || this.failure) return;
    const data = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    try {
      for (let offset = 0; offset < data.length;)
        offset += this.fs.writeSync(this.fd, data, offset, data.length - offset);
    } catch (error) {
      this.fail(new Error(`journal write to ${this.path} failed: ${message(error)}`, { cause: error }));
      return;
    }
    this.bytes += data.length;
    this.written = this.appended;
    this.onProgress();
  }

  /** Resolves once every record up to `seq` is fsynced; concurrent callers share one fsync. */
  sync(seq = this.appended): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (seq <= this.synced) return Promise.resolve();
    if (seq > this.written) this.write();
    if (this.failure) return Promise.reject(this.failure);
    const waiting = new Promise<void>((resolve, reject) => this.waiters.push({ seq, resolve, reject }));
    if (!this.syncing) {
      this.syncing = true;
      this.syncRun = this.runSync();
    }
    return waiting;
  }

  private async runSync(): Promise<void> {
    try {
      await this.syncWaiters();
    } finally {
      this.syncing = false;
    }
  }

  private async syncWaiters(): Promise<void> {
    while (this.waiters.length > 0 && !this.failure) {
      const upTo = this.written;
      const fds = [...this.unsyncedFds];
      this.unsyncedFds = [];
      const dir = this.dirUnsynced;
      this.dirUnsynced = false;
      try {
        for (const fd of fds) {
          await this.fs.fsync(fd);
          this.fs.closeSync(fd);
        }
        await this.fs.fsync(this.fd);
        if (dir) await syncDir(this.dir, this.fs);
      } catch (error) {
        this.fail(new Error(`journal fsync of ${this.path} failed: ${message(error)}`, { cause: error }));
        break;
      }
      this.synced = Math.max(this.synced, upTo);
      const done = this.waiters.filter((w) => w.seq <= this.synced);
      this.waiters = this.waiters.filter((w) => w.seq > this.synced);
      for (const waiter of done) waiter.resolve();
      this.onProgress();
    }
  }

  /**
   * Continues in a new file (after writing what is pending to the old one): the old file's records
   * are what a checkpoint taken now contains. Its fsync is left to the next `sync()`.
   */
  rotate(path: string): void {
    this.write();
    if (this.failure) throw this.failure;
    const fd = this.fs.openSync(path, 'a');
    if (this.synced < this.written) this.unsyncedFds.push(this.fd);
    else this.fs.closeSync(this.fd);
    this.fd = fd;
    this.path = path;
    this.bytes = 0;
    this.dirUnsynced = true;
  }

  /** Writes what is pending, lets a running fsync finish and closes the file; the journal takes no more records. */
  async close(): Promise<void> {
    this.write();
    await this.syncRun;
    if (this.failure) return;
    this.failure = new Error('journal closed');
    for (const fd of [...this.unsyncedFds, this.fd]) this.fs.closeSync(fd);
    this.unsyncedFds = [];
    for (const waiter of this.waiters.splice(0)) waiter.reject(this.failure);
  }

  private fail(error: Error): void {
    this.failure = error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
    this.onProgress(error);
  }
}

/** fsync of a directory, so a created, renamed or removed entry in it survives a machine crash. */
export async function syncDir(dir: string, fs: JournalFs = nodeJournalFs): Promise<void> {
  const fd = fs.openSync(dir, 'r');
  try {
    await fs.fsync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));
