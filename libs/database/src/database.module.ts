import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import * as mongodb from 'mongodb';
import type { DataSourceOptions } from 'typeorm';
import { MongoEndpoint } from './mongo-endpoint.js';

type Entities = NonNullable<DataSourceOptions['entities']>;

/**
 * How often the driver's pool looks for connections to open (`minPoolSize`) or to close (idle, or left
 * from before a reconnection). Its 100 ms were ten wake-ups a second of every idle service; the lab keeps
 * no minimum and no idle limit, so the look only closes sockets a store restart left behind, which the
 * pool also drops when it next hands them out. Not an option MongoClient accepts: it is set on the parsed
 * options, which the pool reads when the client connects.
 */
export const POOL_CHECK_INTERVAL_MS = 10_000;

/**
 * Connects a client the lab's way: a 5 s server selection timeout instead of 30 s, so an unreachable
 * MONGO_URL fails start-up quickly, the pool check above, and reused handles ({@link reuseHandles}).
 */
export async function connectMongo(
  url: string,
  options: mongodb.MongoClientOptions = {},
): Promise<mongodb.MongoClient> {
  const client = new mongodb.MongoClient(url, { serverSelectionTimeoutMS: 5000, ...options });
  Object.assign(client.options, { minPoolSizeCheckFrequencyMS: POOL_CHECK_INTERVAL_MS });
  return reuseHandles(await client.connect());
}

/**
 * The mongodb driver TypeORM is given: clients from {@link connectMongo}. TypeORM rebuilds the URL
 * without its query options and passes only a fixed list of client options, which includes neither the
 * server selection timeout nor the pool check.
 */
const driver = {
  ...mongodb,
  MongoClient: { connect: connectMongo },
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
