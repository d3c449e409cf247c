import { EmbeddedMongoServer } from '#lab/embedded-mongo';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reuseHandles } from './database.module.js';

// With MONGO_URL set, against a real MongoDB.
describe(reuseHandles.name, () => {
  let server: EmbeddedMongoServer | undefined;
  let client: MongoClient;
  const name = `reuse_handles_${process.pid}`;

  beforeAll(async () => {
    const url = process.env.MONGO_URL ?? (server = await EmbeddedMongoServer.start({ port: 0 })).uri;
    client = reuseHandles(await MongoClient.connect(url));
  });
  afterAll(async () => {
    await client.db(name).dropDatabase();
    await client.close();
    await server?.stop();
  });

  it('hands out one Db and one Collection per name, which work as usual', async () => {
    const db = client.db(name);
    expect(client.db(name)).toBe(db);
    expect(client.db(`${name}_other`)).not.toBe(db);
    expect(db.collection('things')).toBe(db.collection('things'));
    expect(db.collection('things')).not.toBe(db.collection('others'));
    await client.db(name).collection('things').insertOne({ n: 1 });
    expect(await client.db(name).collection('things').countDocuments({ n: 1 })).toBe(1);
  });

  it('still makes a new handle when options are given', () => {
    expect(client.db(name, { retryWrites: false })).not.toBe(client.db(name));
    expect(client.db(name).collection('things', { readConcern: { level: 'local' } })).not.toBe(
      client.db(name).collection('things'),
    );
  });
});
