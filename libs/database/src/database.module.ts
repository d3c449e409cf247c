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
    connect: (url: string, options: mongodb.MongoClientOptions) =>
      mongodb.MongoClient.connect(url, { serverSelectionTimeoutMS: 5000, ...options }),
  },
};

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
