import { EmbeddedMongoServer } from '#lab/embedded-mongo';
import type { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMongo, POOL_CHECK_INTERVAL_MS } from './database.module.js';

/** What the driver keeps of a server's pool (not public API: this spec notices if a driver update drops it). */
interface DriverInternals {
  topology?: { s: { servers: Map<string, { pool: { options: { minPoolSizeCheckFrequencyMS: number } } }> } };
}

// With MONGO_URL set, against a real MongoDB.
describe(connectMongo.name, () => {
  let server: EmbeddedMongoServer | undefined;
  let client: MongoClient;

  beforeAll(async () => {
    const url = process.env.MONGO_URL ?? (server = await EmbeddedMongoServer.start({ port: 0 })).uri;
    client = await connectMongo(url);
  });
  afterAll(async () => {
    await client.close();
    await server?.stop();
  });

  it("gives the pool the lab's check interval instead of the driver's 100 ms, and the client works", async () => {
    const servers = [...((client as unknown as DriverInternals).topology?.s.servers.values() ?? [])];
    expect(servers.map((s) => s.pool.options.minPoolSizeCheckFrequencyMS)).toEqual([POOL_CHECK_INTERVAL_MS]);
    expect(await client.db('admin').command({ ping: 1 })).toMatchObject({ ok: 1 });
  });

  it('reuses handles', () => {
    expect(client.db('connect_mongo').collection('things')).toBe(
      client.db('connect_mongo').collection('things'),
    );
  });
});
