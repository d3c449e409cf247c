import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const LOCK_FILE = 'mongod.lock';

interface LockInfo {
  pid: number;
  /** The process's start time (Linux, clock ticks since boot), so a reused pid is not taken for the holder. */
  startTime?: number;
  host?: string;
  port?: number;
}

/** Data directories this process holds: a second server in the same process must not share one either. */
const heldHere = new Set<string>();

/** `<dataDir>/mongod.lock`, as mongod keeps one: the pid of the store that owns the directory. */
export class DataDirLock {
  private constructor(
    private readonly dir: string,
    private readonly info: LockInfo,
  ) {}

  private get path(): string {
    return join(this.dir, LOCK_FILE);
  }

  /**
   * Takes the directory, or fails naming the live store that holds it. A lock left by a process that
   * is gone (a crash, a SIGKILL) is taken over.
   */
  static async acquire(dir: string, log: (line: string) => void): Promise<DataDirLock> {
    const info: LockInfo = { pid: process.pid, startTime: processStartTime(process.pid) };
    const path = join(dir, LOCK_FILE);
    for (let attempt = 0; ; attempt++) {
      try {
        const file = await open(path, 'wx');
        try {
          await file.writeFile(`${JSON.stringify(info)}\n`);
        } finally {
          await file.close();
        }
        heldHere.add(dir);
        return new DataDirLock(dir, info);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 2) throw error;
      }
      const holder = parse(await readFile(path, 'utf8').catch(() => ''));
      if (holder && isHolding(holder, dir)) {
        const where = holder.port ? `, listening on ${holder.host ?? '127.0.0.1'}:${holder.port}` : '';
        throw new Error(`data directory ${dir} is in use by embedded-mongo (pid ${holder.pid}${where})`);
      }
      log(
        `data directory ${dir}: taking over the lock of pid ${holder?.pid ?? 'unknown'}, which is no longer running`,
      );
      await rm(path, { force: true });
    }
  }

  /** Adds the address to the lock, so a second start can say where the holder listens. */
  async describe(host: string, port: number): Promise<void> {
    this.info.host = host;
    this.info.port = port;
    await writeFile(this.path, `${JSON.stringify(this.info)}\n`);
  }

  async release(): Promise<void> {
    heldHere.delete(this.dir);
    const current = parse(await readFile(this.path, 'utf8').catch(() => ''));
    if (current?.pid === this.info.pid) await rm(this.path, { force: true });
  }
}

function parse(text: string): LockInfo | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && typeof (value as LockInfo).pid === 'number')
      return value as LockInfo;
  } catch {
    // mongod writes the bare pid
    const pid = Number(text.trim());
    if (Number.isInteger(pid) && pid > 0) return { pid };
  }
  return undefined;
}

function isHolding(holder: LockInfo, dir: string): boolean {
  if (holder.pid === process.pid) return heldHere.has(dir);
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const startTime = processStartTime(holder.pid);
  return holder.startTime === undefined || startTime === undefined || startTime === holder.startTime;
}

/** Field 22 of /proc/<pid>/stat; undefined where there is no /proc. */
function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  } catch {
    return undefined;
  }
}

/**
 * The process listening on a TCP port, found through /proc/net/tcp{,6} and the socket inodes in
 * /proc/<pid>/fd (Linux, and only processes this user may inspect); undefined otherwise.
 */
export function portHolder(port: number): { pid: number; command: string } | undefined {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is HEXADDR:HEXPORT; state 0A is LISTEN; field 9 is the inode.
      if (fields.length > 9 && fields[3] === '0A' && parseInt(fields[1].split(':')[1] ?? '', 16) === port)
        inodes.add(fields[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode && inodes.has(inode)) {
        let command = '';
        try {
          command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
        } catch {
          // gone meanwhile
        }
        return { pid: Number(pid), command };
      }
    }
  }
  return undefined;
}
