import { Logger } from '@nestjs/common';
import type { AppConfig } from '#lab/config';
import type { Collection, MongoClient } from 'mongodb';

/** A client's count in the current fixed window, and when that window ends (epoch ms). */
export interface WindowCount {
  count: number;
  resetAt: number;
}

/** Counts requests per key in fixed windows aligned on multiples of the window length. */
export interface RateLimitStore {
  /** Counts one request for `key` and returns the window's count, this one included. */
  hit(key: string, now: number): WindowCount | Promise<WindowCount>;
  close(): Promise<void>;
}

export const windowEnd = (now: number, windowMs: number) => (Math.floor(now / windowMs) + 1) * windowMs;

/** Largest number of keys kept before expired ones are swept at once (a flood of distinct clients). */
const SWEEP_AT = 100_000;

/**
 * Per gateway instance: a map of key → count, entries updated in place, expired ones swept once per
 * window (or sooner when the map grows past {@link SWEEP_AT} keys).
 */
export class MemoryRateLimitStore implements RateLimitStore {
  private readonly counts = new Map<string, WindowCount>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly windowMs: number) {
    this.sweeper = setInterval(() => this.sweep(Date.now()), windowMs).unref();
  }

  hit(key: string, now: number): WindowCount {
    let entry = this.counts.get(key);
    if (entry === undefined) {
      if (this.counts.size >= SWEEP_AT) this.sweep(now);
      entry = { count: 0, resetAt: 0 };
      this.counts.set(key, entry);
    }
    if (entry.resetAt <= now) {
      entry.count = 0;
      entry.resetAt = windowEnd(now, this.windowMs);
    }
    entry.count++;
    // A copy: the caller reads it after an await, when later hits may have changed the entry.
    return { count: entry.count, resetAt: entry.resetAt };
  }

  private sweep(now: number): void {
    for (const [key, entry] of this.counts) if (entry.resetAt <= now) this.counts.delete(key);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.counts.clear();
  }
}

interface RateLimitDocument {
  /** `<key>|<window start>` */
  _id: string;
  count: number;
  /** End of the window: MongoDB's TTL monitor removes the document then. */
  expiresAt: Date;
}

export const RATE_LIMIT_COLLECTION = 'rate_limits';

/**
 * Shared by every gateway instance: one document per key and window in the gateway's database,
 * counted by an atomic upsert with `$inc` (MongoDB and the embedded store alike), removed by a TTL
 * index on `expiresAt` (and swept here too: the embedded store has no TTL monitor).
 */
export class MongoRateLimitStore implements RateLimitStore {
  private readonly logger = new Logger('RateLimit');
  private readonly sweeper: NodeJS.Timeout;

  private constructor(
    private readonly client: MongoClient,
    private readonly collection: Collection<RateLimitDocument>,
    private readonly windowMs: number,
    private readonly onClose: () => Promise<void>,
  ) {
    this.sweeper = setInterval(() => void this.sweep(), windowMs).unref();
  }

  static async connect(
    url: string,
    database: string,
    windowMs: number,
    onClose: () => Promise<void> = async () => {},
  ): Promise<MongoRateLimitStore> {
    const { MongoClient } = await import('mongodb');
    const client = await MongoClient.connect(url, {
      serverSelectionTimeoutMS: 5000,
      appName: 'gateway-rate-limit',
    });
    const collection = client.db(database).collection<RateLimitDocument>(RATE_LIMIT_COLLECTION);
    await collection.createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0 });
    return new MongoRateLimitStore(client, collection, windowMs, onClose);
  }

  async hit(key: string, now: number): Promise<WindowCount> {
    const resetAt = windowEnd(now, this.windowMs);
    const id = `${key}|${resetAt - this.windowMs}`;
    const update = () =>
      this.collection.findOneAndUpdate(
        { _id: id },
        { $inc: { count: 1 }, $setOnInsert: { expiresAt: new Date(resetAt) } },
        { upsert: true, returnDocument: 'after' },
      );
    let document: RateLimitDocument | null;
    try {
      document = await update();
    } catch (error) {
      // Two first hits of a window racing: MongoDB lets one upsert insert and fails the other (E11000).
      if ((error as { code?: number }).code !== 11000) throw error;
      document = await update();
    }
    return { count: document?.count ?? 1, resetAt };
  }

  private async sweep(): Promise<void> {
    try {
      await this.collection.deleteMany({ expiresAt: { $lte: new Date() } });
    } catch (error) {
      this.logger.warn(
        `sweeping expired rate-limit windows failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await this.client.close();
    await this.onClose();
  }
}

/** The store the limit counts in: none when RATE_LIMIT_REQUESTS is 0, in memory, or shared in MongoDB. */
export async function createRateLimitStore(config: AppConfig): Promise<RateLimitStore | undefined> {
  const { requests, windowSeconds, store } = config.rateLimit;
  if (requests === 0) return undefined;
  const windowMs = windowSeconds * 1000;
  if (store === 'memory') return new MemoryRateLimitStore(windowMs);
  let url = config.mongo.url;
  let onClose = async () => {};
  if (url === undefined) {
    // Like the services' own databases: a gateway started alone gets an in-memory store, shared by nobody.
    const { EmbeddedMongoServer } = await import('#lab/embedded-mongo');
    const embedded = await EmbeddedMongoServer.start({ port: 0 });
    new Logger('RateLimit').warn(
      `RATE_LIMIT_STORE=mongodb without MONGO_URL: counting in an in-memory store at ${embedded.uri}, not shared`,
    );
    url = embedded.uri;
    onClose = () => embedded.stop();
  }
  return MongoRateLimitStore.connect(url, config.mongo.database, windowMs, onClose);
}
