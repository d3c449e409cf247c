import { Logger, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthModule } from '#lab/auth';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import { RATE_LIMIT_STORE, RateLimitGuard } from './rate-limit.guard.js';
import { MemoryRateLimitStore, MongoRateLimitStore, type RateLimitStore } from './rate-limit.store.js';

/** The store the limit counts in: none when RATE_LIMIT_REQUESTS is 0, in memory, or shared in MongoDB. */
async function createStore(config: AppConfig): Promise<RateLimitStore | undefined> {
  const { requests, windowSeconds, store } = config.rateLimit;
  if (requests === 0) return undefined;
  const windowMs = windowSeconds * 1000;
  if (store === 'memory') return new MemoryRateLimitStore(windowMs);
  let url = config.mongo.url;
  let onClose = async () => {};
  if (url === undefined) {
    // Like the services' own databases: a gateway started alone gets an in-memory store, shared by nobody.
    const { EmbeddedMongoServer } = await import('#lab/embedded-mongo');
    const embedded = await EmbeddedMongoServer.start({ port: 0 });
    new Logger('RateLimit').warn(
      `RATE_LIMIT_STORE=mongodb without MONGO_URL: counting in an in-memory store at ${embedded.uri}, not shared`,
    );
    url = embedded.uri;
    onClose = () => embedded.stop();
  }
  return MongoRateLimitStore.connect(url, config.mongo.database, windowMs, onClose);
}

/** The rate limit as a global guard: it runs before the routes' own auth guards (see {@link RateLimitGuard}). */
@Module({
  imports: [AuthModule],
  providers: [
    { provide: RATE_LIMIT_STORE, inject: [APP_CONFIG], useFactory: createStore },
    { provide: APP_GUARD, useClass: RateLimitGuard },
  ],
  exports: [RATE_LIMIT_STORE],
})
export class RateLimitModule {}
