import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConflictException } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { getRepositoryToken } from '@nestjs/typeorm';
import { EmbeddedMongoServer } from '#lab/embedded-mongo';
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import type { MongoRepository } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { databaseTestingModule } from '../../test/testing-module.js';
import { AccessTokenSigner } from './access-token.signer.js';
import { toPublicJwk } from './jwk.response.js';
import { KEY_REFRESH_MS, KeysService } from './keys.service.js';
import { SigningKey } from './signing-key.entity.js';

describe(KeysService.name, () => {
  let mongo: EmbeddedMongoServer;
  const opened: TestingModule[] = [];
  let database = 0;

  /** One oauth instance; instances given the same database share their keys. */
  async function instance(db: string, env: Record<string, string> = {}) {
    const moduleRef = await databaseTestingModule([KeysService, AccessTokenSigner], {
      MONGO_URL: mongo.uri,
      MONGO_DB_PREFIX: db,
      ACCESS_TOKEN_TTL_SECONDS: '600',
      ...env,
    });
    opened.push(moduleRef);
    return {
      keys: moduleRef.get(KeysService),
      signer: moduleRef.get(AccessTokenSigner),
      stored: moduleRef.get<MongoRepository<SigningKey>>(getRepositoryToken(SigningKey)),
    };
  }
  const freshDatabase = () => `keys${++database}`;
  const jwksOf = async (keys: KeysService, now?: Date) => ({
    keys: (await keys.publishedKeys(now)).map(toPublicJwk),
  });

  beforeAll(async () => {
    mongo = await EmbeddedMongoServer.start({ port: 0 });
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((moduleRef) => moduleRef.close()));
  });
  afterAll(async () => {
    await mongo.stop();
  });

  it('generates a single signing key when two instances start at the same moment', async () => {
    const db = freshDatabase();
    const [a, b] = await Promise.all([instance(db), instance(db)]);
    expect(await a.stored.count({})).toBe(1);
    expect((await a.keys.signingKey()).kid).toBe((await b.keys.signingKey()).kid);
    const [published] = (await jwksOf(a.keys)).keys;
    expect(published).toMatchObject({
      kty: 'RSA',
      alg: 'RS256',
      use: 'sig',
      kid: (await a.keys.signingKey()).kid,
    });
    expect(published).not.toHaveProperty('d');
    expect(published.kid).toBe(await calculateJwkThumbprint({ kty: 'RSA', n: published.n, e: published.e }));
  });

  it('signs with the new key after a rotation and keeps the previous one published for its tokens', async () => {
    const { keys, signer } = await instance(freshDatabase());
    const before = await signer.sign({ subject: 'u1', clientId: 'lab-web', scopes: ['profile'] });
    const rotation = await keys.rotate();
    expect(rotation.previousKid).toBe(before.kid);
    const after = await signer.sign({ subject: 'u1', clientId: 'lab-web', scopes: ['profile'] });
    expect(decodeProtectedHeader(after.token)).toEqual({ alg: 'RS256', typ: 'at+jwt', kid: rotation.kid });

    const jwks = await jwksOf(keys);
    expect(jwks.keys.map((key) => key.kid)).toEqual([rotation.kid, rotation.previousKid]);
    const verifyWith = createLocalJWKSet(jwks);
    await expect(jwtVerify(before.token, verifyWith)).resolves.toMatchObject({
      protectedHeader: { kid: before.kid },
    });
    await expect(jwtVerify(after.token, verifyWith)).resolves.toMatchObject({
      payload: { sub: 'u1', scope: 'profile' },
    });
  });

  it('stops publishing a retired key once every token it can have signed has expired', async () => {
    const { keys } = await instance(freshDatabase());
    const { kid, previousKid } = await keys.rotate();
    const inTenMinutes = new Date(Date.now() + 600_000);
    expect((await jwksOf(keys, inTenMinutes)).keys.map((key) => key.kid)).toEqual([kid, previousKid]);
    const afterTheLastToken = new Date(Date.now() + 600_000 + KEY_REFRESH_MS + 31_000);
    expect((await jwksOf(keys, afterTheLastToken)).keys.map((key) => key.kid)).toEqual([kid]);
  });

  it('picks up a rotation made by another instance once its cached key is older than KEY_REFRESH_MS', async () => {
    const db = freshDatabase();
    const [a, b] = await Promise.all([instance(db), instance(db)]);
    const now = Date.now();
    const original = (await a.keys.signingKey(now)).kid;
    const { kid } = await b.keys.rotate();
    expect((await a.keys.signingKey(now + 1)).kid).toBe(original);
    expect((await a.keys.signingKey(now + KEY_REFRESH_MS)).kid).toBe(kid);
  });

  it('leaves exactly one active key when two instances rotate at the same moment', async () => {
    const db = freshDatabase();
    const [a, b] = await Promise.all([instance(db), instance(db)]);
    const outcomes = await Promise.allSettled([a.keys.rotate(), b.keys.rotate()]);
    expect(outcomes.some((outcome) => outcome.status === 'fulfilled')).toBe(true);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') expect(outcome.reason).toBeInstanceOf(ConflictException);
    }
    expect(await a.stored.count({ retiredAt: null })).toBe(1);
  });

  describe('with OAUTH_SIGNING_KEY_FILE', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oauth-keys-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    function keyFile(name: string): string {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const path = join(dir, name);
      writeFileSync(path, privateKey.export({ type: 'pkcs1', format: 'pem' }));
      return path;
    }

    it('signs with the file key under its RFC 7638 thumbprint, publishes it and refuses rotation', async () => {
      const db = freshDatabase();
      const generated = await instance(db);
      const oldKid = (await generated.keys.signingKey()).kid;
      await opened.splice(0)[0].close();

      const file = keyFile('first.pem');
      const { keys, stored } = await instance(db, { OAUTH_SIGNING_KEY_FILE: file });
      const { kid } = await keys.signingKey();
      const [published] = (await jwksOf(keys)).keys;
      expect(published.kid).toBe(kid);
      expect(kid).toBe(await calculateJwkThumbprint({ kty: 'RSA', n: published.n, e: published.e }));
      expect((await jwksOf(keys)).keys.map((key) => key.kid)).toEqual([kid, oldKid]);
      expect((await stored.findOneBy({ kid }))?.privateKeyPem).toBeNull();
      await expect(keys.rotate()).rejects.toBeInstanceOf(ConflictException);
    });

    it('refuses to start on a file that holds no RSA key', async () => {
      const path = join(dir, 'not-a-key.pem');
      writeFileSync(path, 'hello');
      await expect(instance(freshDatabase(), { OAUTH_SIGNING_KEY_FILE: path })).rejects.toThrow(
        /OAUTH_SIGNING_KEY_FILE/,
      );
    });
  });
});
