import type { TestingModule } from '@nestjs/testing';
import { getRepositoryToken } from '@nestjs/typeorm';
import type { MongoRepository } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseTestingModule } from '../../test/testing-module.js';
import { RefreshToken } from './refresh-token.entity.js';
import { InvalidRefreshToken, RefreshTokensService } from './refresh-tokens.service.js';

describe(RefreshTokensService.name, () => {
  let moduleRef: TestingModule;
  let service: RefreshTokensService;
  let stored: MongoRepository<RefreshToken>;
  const grant = { userId: 'user-1', clientId: 'lab-web', scopes: ['profile', 'orders'] };

  beforeAll(async () => {
    moduleRef = await databaseTestingModule([RefreshTokensService], { REFRESH_TOKEN_TTL_SECONDS: '3600' });
    service = moduleRef.get(RefreshTokensService);
    stored = moduleRef.get(getRepositoryToken(RefreshToken));
  });
  afterAll(async () => {
    await moduleRef?.close();
  });

  it('stores only a SHA-256 of the token', async () => {
    const token = await service.issue(grant);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    const all = JSON.stringify(await stored.find({}));
    expect(all).not.toContain(token);
  });

  it('swaps a token for a successor in the same family, carrying the grant over', async () => {
    const first = await service.issue(grant);
    const consumed = await service.consume(first);
    expect(consumed).toMatchObject(grant);
    const second = await service.rotate(consumed);
    expect(second).not.toBe(first);
    expect(await service.consume(second)).toMatchObject({ ...grant, familyId: consumed.familyId });
  });

  it('revokes the whole family when a spent token is presented again', async () => {
    const first = await service.issue(grant);
    const second = await service.rotate(await service.consume(first));
    await expect(service.consume(first)).rejects.toBeInstanceOf(InvalidRefreshToken);
    await expect(service.consume(second)).rejects.toThrow(/already used or revoked/);
  });

  it('lets only one of three concurrent uses of a token succeed', async () => {
    const token = await service.issue(grant);
    for (let round = 0; round < 5; round++) {
      const next = round === 0 ? token : await service.issue(grant);
      // Distinct times, so an unconditional update would modify the document every time.
      const now = Date.now();
      const outcomes = await Promise.allSettled(
        [0, 1, 2].map((ms) => service.consume(next, new Date(now + ms))),
      );
      expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    }
  });

  it('revokes a successor issued while its family was being revoked', async () => {
    const first = await service.issue(grant);
    const consumed = await service.consume(first);
    await service.revokeFamily(consumed.familyId);
    await expect(service.rotate(consumed)).rejects.toBeInstanceOf(InvalidRefreshToken);
    expect(await stored.count({ familyId: consumed.familyId, revokedAt: null })).toBe(0);
  });

  it('refuses an expired token and an unknown one', async () => {
    const token = await service.issue(grant);
    await expect(service.consume(token, new Date(Date.now() + 3_601_000))).rejects.toThrow(
      'refresh token expired',
    );
    await expect(service.consume('not-a-token')).rejects.toThrow('unknown refresh token');
  });
});
