import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import type { DataSourceOptions } from 'typeorm';
import { MongoEndpoint } from './mongo-endpoint.js';

type Entities = NonNullable<DataSourceOptions['entities']>;

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
            // Creates the entities' indexes (unique constraints) at start-up.
            synchronize: true,
            serverSelectionTimeoutMS: 5000,
            retryAttempts: 2,
            retryDelay: 1000,
          }),
        }),
      ],
      exports: [TypeOrmModule],
    };
  }
}
