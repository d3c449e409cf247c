import type { TestingModule } from '@nestjs/testing';
import { getRepositoryToken } from '@nestjs/typeorm';
import { EmbeddedMongoServer } from '#lab/embedded-mongo';
import type { MongoRepository } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { databaseTestingModule } from '../../test/testing-module.js';
import { PasswordHasher, PasswordHashingOverloaded } from '../hashing/password-hasher.js';
import { Client } from './client.entity.js';
import { ClientsModule } from './clients.module.js';
import { ClientsService } from './clients.service.js';

describe(ClientsService.name, () => {
  let mongo: EmbeddedMongoServer;
  const opened: TestingModule[] = [];

  /**
   * One start of the oauth service's clients feature on a shared database, with a hashing queue that
   * has one thread and no room at all: the two clients are seeded at once, so one of their hashes
   * always finds the thread taken.
   */
  async function start(orderSecret: string) {
    const moduleRef = await databaseTestingModule(
      [],
      {
        MONGO_URL: mongo.uri,
        MONGO_DB_PREFIX: 'clients',
        ORDER_CLIENT_SECRET: orderSecret,
        PASSWORD_HASH_CONCURRENCY: '1',
        PASSWORD_HASH_QUEUE: '0',
      },
      [ClientsModule],
    );
    opened.push(moduleRef);
    return {
      clients: moduleRef.get(ClientsService),
      stored: moduleRef.get<MongoRepository<Client>>(getRepositoryToken(Client)),
      hasher: moduleRef.get(PasswordHasher),
    };
  }

  beforeAll(async () => {
    mongo = await EmbeddedMongoServer.start({ port: 0 });
  });
  afterEach(() => Promise.all(opened.splice(0).map((moduleRef) => moduleRef.close())));
  afterAll(async () => {
    await mongo?.stop();
  });

  it("seeds the OAuth clients at start-up and re-seeds a changed secret when the hashing queue has no room (the service's own hashes wait, never shed), while a client's hash is still shed", async () => {
    const first = await start('first-order-secret');
    const seeded = await first.stored.find();
    expect(seeded.map(({ clientId }) => clientId).sort()).toEqual(['admin-cli', 'order-service']);
    await Promise.all(opened.splice(0).map((moduleRef) => moduleRef.close()));

    const second = await start('second-order-secret');
    expect(
      await second.clients.authenticate('order-service', 'second-order-secret', '10.0.0.1'),
    ).toMatchObject({ clientId: 'order-service' });
    expect(
      await second.clients.authenticate('order-service', 'first-order-secret', '10.0.0.1'),
    ).toBeUndefined();

    // A request's hash on the same hasher: refused at once while the only thread is taken.
    const running = second.hasher.hash('a sign-up', { client: '10.0.0.1' });
    await expect(second.hasher.hash('another sign-up', { client: '10.0.0.2' })).rejects.toBeInstanceOf(
      PasswordHashingOverloaded,
    );
    await running;
  });
});
