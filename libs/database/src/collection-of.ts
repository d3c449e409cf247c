import type { Collection, Document, MongoClient } from 'mongodb';
import type { MongoRepository } from 'typeorm';

/**
 * The driver's collection behind a TypeORM MongoDB repository (the same handle TypeORM uses), for hot
 * paths where TypeORM only adds its entity transform: a `findOne` through the repository costs about
 * 1.5× the client CPU of the driver's own. Documents come back as stored, as plain objects.
 */
export function collectionOf<T extends Document>(repository: MongoRepository<T>): Collection<T> {
  const { mongoQueryRunner, dataSource } = repository.manager;
  // TypeORM types the client with a copy of the driver's typings of its own; it is the driver's client.
  const client = mongoQueryRunner.databaseConnection as unknown as MongoClient;
  return client.db(dataSource.driver.database).collection<T>(repository.metadata.tableName);
}
