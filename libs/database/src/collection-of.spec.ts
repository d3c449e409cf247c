import { EmbeddedMongoServer } from '#lab/embedded-mongo';
import * as mongodb from 'mongodb';
import { Column, DataSource, Entity, ObjectIdColumn } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectionOf } from './collection-of.js';
import { connectMongo } from './database.module.js';

@Entity('things')
class Thing {
  @ObjectIdColumn()
  _id!: mongodb.ObjectId;

  @Column()
  name!: string;
}

// With MONGO_URL set, against a real MongoDB.
describe(collectionOf.name, () => {
  let server: EmbeddedMongoServer | undefined;
  let dataSource: DataSource;

  beforeAll(async () => {
    const url = process.env.MONGO_URL ?? (server = await EmbeddedMongoServer.start({ port: 0 })).uri;
    dataSource = await new DataSource({
      type: 'mongodb',
      url,
      database: `collection_of_${process.pid}`,
      entities: [Thing],
      driver: { ...mongodb, MongoClient: { connect: connectMongo } },
    }).initialize();
  });
  afterAll(async () => {
    await dataSource.dropDatabase();
    await dataSource.destroy();
    await server?.stop();
  });

  it("is the repository's own collection: the driver reads what the repository wrote, and the other way round", async () => {
    const repository = dataSource.getMongoRepository(Thing);
    const things = collectionOf(repository);
    expect(things).toBe(collectionOf(repository));
    await repository.insertOne({ name: 'written by the repository' });
    expect(await things.findOne({ name: 'written by the repository' })).toMatchObject({
      _id: expect.any(mongodb.ObjectId),
      name: 'written by the repository',
    });
    await things.insertOne({ _id: new mongodb.ObjectId(), name: 'written by the driver' });
    expect((await repository.findOneBy({ name: 'written by the driver' }))?.name).toBe(
      'written by the driver',
    );
  });
});
