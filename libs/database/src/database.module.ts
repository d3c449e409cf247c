import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import * as mongodb from 'mongodb';
import type { DataSourceOptions } from 'typeorm';
import { MongoEndpoint } from './mongo-endpoint.js';

type Entities = NonNullable<DataSourceOptions['entities']>;

/**
 * The mongodb driver with a 5 s server selection timeout instead of 30 s, so an unreachable MONGO_URL
 * fails start-up quickly: TypeORM rebuilds the URL without its query options and passes only a fixed
 * list of client options, which does not include this one.
 */
const driver = {
  ...mongodb,
  MongoClient: {
    connect: async (url: string, options: mongodb.MongoClientOptions) =>
      reuseHandles(await mongodb.MongoClient.connect(url, { serverSelectionTimeoutMS: 5000, ...options })),
  },
};

/**
 * TypeORM asks the client for a new `Db` and a new `Collection` on every operation, and the driver
 * builds each by resolving its options again (a measurable share of a request's CPU). Both are
 * reusable handles, so each is made once per name.
 */
export function reuseHandles(client: mongodb.MongoClient): mongodb.MongoClient {
  const dbs = new Map<string, mongodb.Db>();
  const newDb = client.db.bind(client);
  client.db = (name?: string, options?: mongodb.DbOptions) => {
    if (name === undefined || options !== undefined) return newDb(name, options);
    let db = dbs.get(name);
    if (!db) {
      db = newDb(name);
      const collections = new Map<string, mongodb.Collection>();
      const newCollection = db.collection.bind(db);
      db.collection = ((collectionName: string, collectionOptions?: mongodb.CollectionOptions) => {
        if (collectionOptions !== undefined) return newCollection(collectionName, collectionOptions);
        let collection = collections.get(collectionName);
        if (!collection) collections.set(collectionName, (collection = newCollection(collectionName)));
        return collection;
      }) as mongodb.Db['collection'];
      dbs.set(name, db);
    }
    return db;
  };
  return client;
}

@Module({ providers: [MongoEndpoint], exports: [MongoEndpoint] })
class MongoEndpointModule {}

/** TypeORM over MongoDB: one database per service (`<MONGO_DB_PREFIX>_<service>`). */
@Module({})
export class DatabaseModule {
  static forRoot(entities: Entities): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [
        TypeOrmModule.forRootAsync({
          imports: [MongoEndpointModule],
          inject: [APP_CONFIG, MongoEndpoint],
          useFactory: async (config: AppConfig, endpoint: MongoEndpoint) => ({
            type: 'mongodb' as const,
            url: await endpoint.url(),
            database: config.mongo.database,
            appName: config.service,
            entities,
            driver,
            // Creates the entities' indexes (unique constraints) at start-up.
            synchronize: true,
            retryAttempts: 1,
            retryDelay: 1000,
          }),
        }),
      ],
      exports: [TypeOrmModule],
    };
  }
}
