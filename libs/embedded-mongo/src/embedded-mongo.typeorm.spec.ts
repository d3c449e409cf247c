import 'reflect-metadata';
import { ObjectId, type UpdateResult } from 'mongodb';
import { Column, DataSource, Entity, Index, type MongoRepository, ObjectIdColumn } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedMongoServer } from './embedded-mongo.server.js';

// With MONGO_URL set, the same expectations run against a real MongoDB.
const realMongo = process.env.MONGO_URL;

@Entity()
class Account {
  @ObjectIdColumn()
  _id!: ObjectId;

  @Index({ unique: true })
  @Column()
  email!: string;

  @Column()
  stock!: number;
}

describe(EmbeddedMongoServer.name, () => {
  let server: EmbeddedMongoServer | undefined;
  let dataSource: DataSource;
  let accounts: MongoRepository<Account>;
  const serverLog: string[] = [];
  const database = `embedded_mongo_typeorm_${process.pid}_${Date.now()}`;

  beforeAll(async () => {
    if (!realMongo) server = await EmbeddedMongoServer.start({ log: (line) => serverLog.push(line) });
    dataSource = new DataSource({
      type: 'mongodb',
      url: realMongo ?? server?.uri,
      database,
      entities: [Account],
      synchronize: true,
    });
    await dataSource.initialize();
    accounts = dataSource.getMongoRepository(Account);
  });

  afterAll(async () => {
    if (dataSource?.isInitialized) {
      await dataSource.dropDatabase();
      await dataSource.destroy();
    }
    await server?.stop();
  });

  it('creates, reads, updates and deletes entities through a MongoRepository', async () => {
    const account = await accounts.save(accounts.create({ email: 'crud@example.com', stock: 5 }));
    expect(account._id).toBeInstanceOf(ObjectId);

    const byEmail = await accounts.findOneBy({ email: 'crud@example.com' });
    expect(byEmail).toMatchObject({ email: 'crud@example.com', stock: 5 });
    expect(byEmail?._id.equals(account._id)).toBe(true);
    expect(await accounts.findOneBy({ _id: new ObjectId(account._id.toHexString()) })).toMatchObject({
      stock: 5,
    });
    expect(await accounts.find({ where: { stock: { $gte: 5 } } })).toHaveLength(1);

    account.stock = 7;
    await accounts.save(account);
    expect((await accounts.findOneBy({ _id: account._id }))?.stock).toBe(7);

    await accounts.update({ email: 'crud@example.com' }, { stock: 8 });
    expect((await accounts.findOneBy({ email: 'crud@example.com' }))?.stock).toBe(8);
    expect(await accounts.count({ email: 'crud@example.com' })).toBe(1);

    await accounts.delete({ email: 'crud@example.com' });
    expect(await accounts.findOneBy({ email: 'crud@example.com' })).toBeNull();
  });

  it('creates the unique index on synchronize and reports a violation as a duplicate-key error', async () => {
    const indexes = await accounts.collectionIndexInformation({ full: true });
    expect(indexes).toEqual(
      expect.arrayContaining([expect.objectContaining({ key: { email: 1 }, unique: true })]),
    );
    await accounts.save(accounts.create({ email: 'unique@example.com', stock: 1 }));
    const duplicate = accounts.save(accounts.create({ email: 'unique@example.com', stock: 2 }));
    await expect(duplicate).rejects.toMatchObject({ code: 11000 });
    expect(await accounts.countBy({ email: 'unique@example.com' })).toBe(1);
  });

  it('applies 200 concurrent conditional decrements on stock 150, leaving exactly zero and never less', async () => {
    const { _id } = await accounts.save(accounts.create({ email: 'stock@example.com', stock: 150 }));
    const observed: number[] = [];
    let running = true;
    const watcher = (async () => {
      while (running) {
        const current = await accounts.findOneBy({ _id });
        if (current) observed.push(current.stock);
      }
    })();
    const results = await Promise.all(
      Array.from(
        { length: 200 },
        () =>
          accounts.updateOne({ _id, stock: { $gte: 1 } }, { $inc: { stock: -1 } }) as Promise<UpdateResult>,
      ),
    );
    running = false;
    await watcher;

    expect(results.reduce((sum, r) => sum + r.modifiedCount, 0)).toBe(150);
    expect((await accounts.findOneBy({ _id }))?.stock).toBe(0);
    expect(observed.length).toBeGreaterThan(0);
    expect(Math.min(...observed)).toBeGreaterThanOrEqual(0);
  });

  it.skipIf(realMongo)('understands every command TypeORM sends', () => {
    expect(serverLog.filter((line) => line.includes('unknown command'))).toEqual([]);
  });
});
