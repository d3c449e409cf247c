import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';

interface ScryptParameters {
  /** log2 of the CPU/memory cost N */
  readonly ln: number;
  readonly r: number;
  readonly p: number;
}

/**
 * One of OWASP's equivalent scrypt configurations: N=2^14, r=8, p=5 (16 MiB per hash), a 64-byte key
 * and a 16-byte salt. N=2^17, p=1 (the first in OWASP's list, used before) held 128 MiB per hash in
 * progress, which took oauth from 140 to 264 MB RSS in the benchmark; hashes stored with it still verify.
 */
const CURRENT: ScryptParameters = { ln: 14, r: 8, p: 5 };
const KEY_LENGTH = 64;
const SALT_LENGTH = 16;
/** Refuses stored parameters that would take seconds or gigabytes (a tampered or foreign hash). */
const MAX_LN = 20;
const ENCODED = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

function derive(secret: string, salt: Buffer, keyLength: number, { ln, r, p }: ScryptParameters): Promise<Buffer> {
  const N = 2 ** ln;
  // scrypt needs 128·N·r bytes (16 MiB at the current cost), more than Node's 32 MiB default allows.
  const maxmem = 2 * 128 * N * r;
  return new Promise((resolve, reject) =>
    scrypt(secret.normalize('NFKC'), salt, keyLength, { N, r, p, maxmem }, (error, key) => (error ? reject(error) : resolve(key))),
  );
}

const unpadded = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '');

/**
 * scrypt hashes in the PHC string format (`$scrypt$ln=14,r=8,p=5$<salt>$<hash>`), so a later change
 * of cost still verifies the hashes stored before it. Runs on libuv's thread pool, never the event loop.
 */
@Injectable()
export class PasswordHasher {
  private dummy?: Promise<string>;

  async hash(secret: string): Promise<string> {
    const salt = randomBytes(SALT_LENGTH);
    const key = await derive(secret, salt, KEY_LENGTH, CURRENT);
    return `$scrypt$ln=${CURRENT.ln},r=${CURRENT.r},p=${CURRENT.p}$${unpadded(salt)}$${unpadded(key)}`;
  }

  /**
   * Whether `secret` matches `encoded`. Without a stored hash (an unknown account) it still spends one
   * full derivation against a dummy hash and answers false, so the time taken does not tell which
   * accounts exist.
   */
  async verify(secret: string, encoded: string | undefined): Promise<boolean> {
    if (encoded === undefined) {
      await this.verify(secret, await this.dummyHash());
      return false;
    }
    const match = ENCODED.exec(encoded);
    if (!match) return false;
    const parameters = { ln: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
    if (parameters.ln < 1 || parameters.ln > MAX_LN || parameters.r < 1 || parameters.p < 1) return false;
    const expected = Buffer.from(match[5], 'base64');
    const actual = await derive(secret, Buffer.from(match[4], 'base64'), expected.length, parameters);
    return timingSafeEqual(actual, expected);
  }

  /** Computed once, ahead of the first unknown account, so that attempt takes no longer than the others. */
  dummyHash(): Promise<string> {
    this.dummy ??= this.hash(randomBytes(16).toString('hex'));
    return this.dummy;
  }
}
