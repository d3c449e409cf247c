import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { ConflictException, Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import { calculateJwkThumbprint } from 'jose';
import type { MongoRepository } from 'typeorm';
import { isDuplicateKeyError } from '#lab/database';
import { SigningKey } from './signing-key.entity.js';

export interface ActiveSigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
}

export interface Rotation {
  readonly kid: string;
  readonly previousKid: string;
}

/**
 * How long an instance signs with the key it loaded before it looks in the database again, which is
 * how a rotation made by another instance reaches it.
 */
export const KEY_REFRESH_MS = 5000;
/** Verifiers accept a token this long after its `exp` (libs/auth's clock tolerance). */
const VERIFIER_CLOCK_TOLERANCE_MS = 30_000;

type NewKey = Pick<SigningKey, 'kid' | 'n' | 'e' | 'privateKeyPem'>;

const generateRsaKeyPair = promisify(generateKeyPair);

async function publicParts(privateKey: KeyObject): Promise<Pick<SigningKey, 'kid' | 'n' | 'e'>> {
  const { n, e } = createPublicKey(privateKey).export({ format: 'jwk' });
  if (!n || !e) throw new Error('not an RSA key');
  return { kid: await calculateJwkThumbprint({ kty: 'RSA', n, e }), n, e };
}

async function generateKey(): Promise<NewKey> {
  const { privateKey } = await generateRsaKeyPair('rsa', { modulusLength: 2048 });
  return {
    ...(await publicParts(privateKey)),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/**
 * The signing keys, shared by every instance through the database. The newest generation that is not
 * retired signs; retired keys stay published until every token they signed has expired.
 */
@Injectable()
export class KeysService implements OnModuleInit {
  private readonly logger = new Logger(KeysService.name);
  /** Set when OAUTH_SIGNING_KEY_FILE is: that key always signs. */
  private fileKey?: ActiveSigningKey;
  private cached?: { key: ActiveSigningKey; loadedAt: number };
  private loading?: Promise<ActiveSigningKey>;

  constructor(
    @InjectRepository(SigningKey) private readonly keys: MongoRepository<SigningKey>,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    const file = this.config.oauth.signingKeyFile;
    if (file) {
      this.fileKey = await this.adoptKeyFile(file);
      return;
    }
    const newest = await this.newest();
    if (newest) {
      // Completes a rotation interrupted between its insert and its retire step.
      await this.retireOlderThan(newest.generation);
      return;
    }
    try {
      const created = await this.insert(await generateKey(), 1);
      this.logger.log(`generated the first signing key (kid ${created.kid})`);
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
      this.logger.log('another instance generated the first signing key; using it');
    }
  }

  /** The key to sign with now: cached for {@link KEY_REFRESH_MS}, then looked up again. */
  async signingKey(now = Date.now()): Promise<ActiveSigningKey> {
    if (this.fileKey) return this.fileKey;
    if (this.cached && now - this.cached.loadedAt < KEY_REFRESH_MS) return this.cached.key;
    this.loading ??= this.load(now).finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  /** Creates a new signing key and retires the previous one, which stays published until its tokens expire. */
  async rotate(): Promise<Rotation> {
    if (this.fileKey) {
      throw new ConflictException(
        'the signing key is loaded from OAUTH_SIGNING_KEY_FILE: replace the file and restart to rotate it',
      );
    }
    const previous = await this.newest();
    if (!previous) throw new Error('no signing key to rotate');
    let created: SigningKey;
    try {
      created = await this.insert(await generateKey(), previous.generation + 1);
    } catch (error) {
      if (isDuplicateKeyError(error))
        throw new ConflictException('another rotation happened at the same moment; retry');
      throw error;
    }
    await this.retireOlderThan(created.generation);
    this.cached = { key: this.activeKey(created), loadedAt: Date.now() };
    this.logger.log(`rotated the signing key from kid ${previous.kid} to kid ${created.kid}`);
    return { kid: created.kid, previousKid: previous.kid };
  }

  /**
   * The active key and every retired key whose tokens may still be accepted: an instance may go on
   * signing with a key for {@link KEY_REFRESH_MS} after another one retired it, and verifiers tolerate
   * some clock skew, so both are added to the access token lifetime.
   */
  async publishedKeys(now = new Date()): Promise<SigningKey[]> {
    const retentionMs =
      this.config.oauth.accessTokenTtlSeconds * 1000 + KEY_REFRESH_MS + VERIFIER_CLOCK_TOLERANCE_MS;
    return this.keys.find({
      where: { $or: [{ retiredAt: null }, { retiredAt: { $gt: new Date(now.getTime() - retentionMs) } }] },
      order: { generation: 'DESC' },
    });
  }

  private async load(now: number): Promise<ActiveSigningKey> {
    const newest = await this.newest();
    if (!newest?.privateKeyPem) throw new Error('no signing key with a private key in the database');
    const key = this.cached?.key.kid === newest.kid ? this.cached.key : this.activeKey(newest);
    this.cached = { key, loadedAt: now };
    return key;
  }

  private activeKey(stored: SigningKey): ActiveSigningKey {
    if (!stored.privateKeyPem) throw new Error(`signing key ${stored.kid} has no private key`);
    return { kid: stored.kid, privateKey: createPrivateKey(stored.privateKeyPem) };
  }

  private newest(): Promise<SigningKey | null> {
    return this.keys.findOne({ where: { retiredAt: null }, order: { generation: 'DESC' } });
  }

  private async insert(key: NewKey, generation: number): Promise<SigningKey> {
    return this.keys.save(this.keys.create({ ...key, generation, createdAt: new Date(), retiredAt: null }));
  }

  private async retireOlderThan(generation: number): Promise<void> {
    await this.keys.updateMany(
      { generation: { $lt: generation }, retiredAt: null },
      { $set: { retiredAt: new Date() } },
    );
  }

  /** Records the file's key as the newest generation (publishing it; retiring a key it replaces). */
  private async adoptKeyFile(path: string): Promise<ActiveSigningKey> {
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(await readFile(path, 'utf8'));
    } catch (error) {
      throw new Error(
        `OAUTH_SIGNING_KEY_FILE ${path}: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    if (
      privateKey.asymmetricKeyType !== 'rsa' ||
      (privateKey.asymmetricKeyDetails?.modulusLength ?? 0) < 2048
    ) {
      throw new Error(`OAUTH_SIGNING_KEY_FILE ${path} must hold an RSA private key of at least 2048 bits`);
    }
    const parts = await publicParts(privateKey);
    const newest = await this.newest();
    if (newest?.kid !== parts.kid) {
      const generation = (newest?.generation ?? 0) + 1;
      try {
        const known = await this.keys.findOneBy({ kid: parts.kid });
        if (known) await this.keys.updateOne({ kid: parts.kid }, { $set: { generation, retiredAt: null } });
        else await this.insert({ ...parts, privateKeyPem: null }, generation);
      } catch (error) {
        // Another instance adopted the same file at the same moment.
        if (!isDuplicateKeyError(error)) throw error;
      }
      await this.retireOlderThan(generation);
      this.logger.log(`signing with the key from OAUTH_SIGNING_KEY_FILE (kid ${parts.kid})`);
    }
    return { kid: parts.kid, privateKey };
  }
}
