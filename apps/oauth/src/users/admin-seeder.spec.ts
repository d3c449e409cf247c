import type { TestingModule } from '@nestjs/testing';
import { getRepositoryToken } from '@nestjs/typeorm';
import { EmbeddedMongoServer } from '#lab/embedded-mongo';
import type { MongoRepository } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CustomerServiceStandIn } from '../../test/customer-service-stand-in.js';
import { databaseTestingModule } from '../../test/testing-module.js';
import { RefreshToken } from '../tokens/refresh-token.entity.js';
import { UsersModule } from './users.module.js';
import { UsersService } from './users.service.js';

describe('AdminSeeder', () => {
  let mongo: EmbeddedMongoServer;
  let customers: CustomerServiceStandIn;
  const opened: TestingModule[] = [];

  /** One start of the oauth service's users feature on the shared database, with this admin password. */
  async function start(password: string) {
    const moduleRef = await databaseTestingModule(
      [],
      {
        MONGO_URL: mongo.uri,
        MONGO_DB_PREFIX: 'seeder',
        CUSTOMER_URL: customers.url,
        OAUTH_ADMIN_PASSWORD: password,
      },
      [UsersModule],
    );
    opened.push(moduleRef);
    return {
      users: moduleRef.get(UsersService),
      refreshTokens: moduleRef.get<MongoRepository<RefreshToken>>(getRepositoryToken(RefreshToken)),
    };
  }
  const stop = () => Promise.all(opened.splice(0).map((moduleRef) => moduleRef.close()));

  beforeAll(async () => {
    mongo = await EmbeddedMongoServer.start({ port: 0 });
    customers = await CustomerServiceStandIn.start();
  });
  afterEach(stop);
  afterAll(async () => {
    await customers?.close();
    await mongo?.stop();
  });

  it('applies a changed OAUTH_ADMIN_PASSWORD at the next start: the old one stops working, its sessions end', async () => {
    const first = await start('first-password');
    const admin = await first.users.findByEmail('admin@lab.local');
    expect(admin).not.toBeNull();
    if (!admin) return;
    expect(await first.users.passwordMatches(admin, 'first-password', 'service')).toBe(true);
    const now = new Date();
    await first.refreshTokens.save(
      first.refreshTokens.create({
        tokenHash: 'h1',
        familyId: 'f1',
        userId: admin._id.toHexString(),
        clientId: 'lab-web',
        scopes: ['admin'],
        createdAt: now,
        expiresAt: new Date(now.getTime() + 60_000),
        usedAt: null,
        revokedAt: null,
      }),
    );
    await stop();

    const second = await start('second-password');
    const again = await second.users.findByEmail('admin@lab.local');
    expect(again?._id.toHexString()).toBe(admin._id.toHexString());
    if (!again) return;
    expect(await second.users.passwordMatches(again, 'second-password', 'service')).toBe(true);
    expect(await second.users.passwordMatches(again, 'first-password', 'service')).toBe(false);
    expect(await second.refreshTokens.findOneBy({ tokenHash: 'h1' })).toMatchObject({
      revokedAt: expect.any(Date),
    });
  });

  it('leaves the stored hash alone when the password did not change', async () => {
    const first = await start('same-password');
    const hash = (await first.users.findByEmail('admin@lab.local'))?.passwordHash;
    await stop();
    const second = await start('same-password');
    expect((await second.users.findByEmail('admin@lab.local'))?.passwordHash).toBe(hash);
  });
});
