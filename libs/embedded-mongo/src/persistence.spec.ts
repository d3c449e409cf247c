import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedMongoServer } from './embedded-mongo.server.js';

const dirs: string[] = [];
const tempDir = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'embedded-mongo-persistence-'));
  dirs.push(dir);
  return dir;
};

/** Starts a server on the directory, runs `work` with a connected client, then stops both. */
async function withServer<T>(dataDir: string, work: (client: MongoClient) => Promise<T>): Promise<T> {
  const server = await EmbeddedMongoServer.start({ dataDir });
  const client = await MongoClient.connect(server.uri);
  try {
    return await work(client);
  } finally {
    await client.close();
    await server.stop();
  }
}

describe('EmbeddedMongoServer persistence', () => {
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it('accepts the same indexes again after a restart on the same data directory', async () => {
    const dataDir = await tempDir();
    const declare = async (client: MongoClient) => {
      const orders = client.db('shop').collection('orders');
      // What TypeORM's synchronize sends on every start: plain numbers, explicit names and options.
      return orders.createIndexes([
        { key: { customerId: 1, createdAt: -1 }, name: 'IDX_customer_created' },
        { key: { idempotencyKey: 1 }, name: 'IDX_idempotency', unique: true },
        { key: { expiresAt: 1 }, name: 'IDX_expires', expireAfterSeconds: 3600 },
      ]);
    };
    await withServer(dataDir, async (client) => {
      await declare(client);
      await client.db('shop').collection('orders').insertOne({ idempotencyKey: 'k1' });
    });
    await withServer(dataDir, async (client) => {
      expect(await declare(client)).toEqual(['IDX_customer_created', 'IDX_idempotency', 'IDX_expires']);
      const orders = client.db('shop').collection('orders');
      expect((await orders.indexes()).map((i) => [i.name, i.key])).toEqual([
        ['_id_', { _id: 1 }],
        ['IDX_customer_created', { customerId: 1, createdAt: -1 }],
        ['IDX_idempotency', { idempotencyKey: 1 }],
        ['IDX_expires', { expiresAt: 1 }],
      ]);
      await expect(orders.insertOne({ idempotencyKey: 'k1' })).rejects.toMatchObject({ code: 11000 });
    });
    // And a third time, on what the second start wrote.
    await withServer(dataDir, async (client) => {
      expect(await declare(client)).toHaveLength(3);
    });
  });
});
