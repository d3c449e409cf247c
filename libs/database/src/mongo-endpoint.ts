import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import type { EmbeddedMongoServer } from '#lab/embedded-mongo';

/**
 * Where the service's MongoDB is: `MONGO_URL` when given, else an in-memory embedded server started
 * in this process (a service run on its own; `npm start` runs one shared, persisted store instead).
 */
@Injectable()
export class MongoEndpoint implements OnApplicationShutdown {
  private readonly logger = new Logger('Database');
  private embedded?: EmbeddedMongoServer;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async url(): Promise<string> {
    if (this.config.mongo.url) return this.config.mongo.url;
    // Loaded only here: a service given MONGO_URL does not carry the store's modules and buffers.
    const { EmbeddedMongoServer } = await import('#lab/embedded-mongo');
    this.embedded ??= await EmbeddedMongoServer.start({ port: 0 });
    this.logger.warn(`MONGO_URL is not set: using an in-memory embedded MongoDB at ${this.embedded.uri}`);
    return this.embedded.uri;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.embedded?.stop();
  }
}
