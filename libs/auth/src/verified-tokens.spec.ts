import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UnauthorizedException } from '@nestjs/common';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { Test, type TestingModule } from '@nestjs/testing';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigModule, loadConfig } from '#lab/config';
import { AuthModule } from './auth.module.js';
import { JwksKeyProvider } from './jwks-key-provider.js';
import { JwtAuthGuard } from './jwt-auth.guard.js';
import type { Principal } from './principal.js';
import { VERIFIED_TOKENS_MAX, VerifiedTokens } from './verified-tokens.js';

/** A stand-in for oauth's `/.well-known/jwks.json`, serving the keys in `published`. */
let server: Server;
let url: string;
let published: JWK[] = [];
let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  privateKey = pair.privateKey;
  published = [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }];
  server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: published }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

const token = (subject = 'u1') =>
  new SignJWT({ client_id: 'lab-web', scope: 'profile orders' })
    .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'k1' })
    .setIssuer('http://localhost:3000')
    .setAudience('observability-lab')
    .setSubject(subject)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(privateKey);

describe(VerifiedTokens.name, () => {
  let moduleRef: TestingModule | undefined;
  afterEach(() => moduleRef?.close());

  /** The guard of a service (AuthModule as the services import it), and a count of key lookups (verifications). */
  const guarded = async (env: Record<string, string> = {}) => {
    moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forConfig(loadConfig('customer', { OAUTH_URL: url, ...env })), AuthModule],
    }).compile();
    const keys = moduleRef.get(JwksKeyProvider);
    const verifications = { count: 0 };
    const keyFor = keys.keyFor.bind(keys);
    keys.keyFor = (presented: string) => {
      verifications.count++;
      return keyFor(presented);
    };
    const guard = moduleRef.get(JwtAuthGuard);
    /** The guard on a request with this bearer token: its principal, or the refusal. */
    const check = async (bearer: string) => {
      const request: { headers: Record<string, string>; user?: Principal } = {
        headers: { authorization: `Bearer ${bearer}` },
      };
      const reply = { header: () => reply };
      await guard.canActivate(new ExecutionContextHost([request, reply]));
      return request.user;
    };
    return { check, verifications, verified: moduleRef.get(VerifiedTokens) };
  };

  it('verifies a token once and answers its principal again without verifying it while its key is held', async () => {
    const { check, verifications } = await guarded();
    const [first, second] = [await token('u1'), await token('u2')];
    expect((await check(first))?.subject).toBe('u1');
    expect((await check(first))?.subject).toBe('u1');
    expect((await check(second))?.subject).toBe('u2');
    expect((await check(first))?.subject).toBe('u1');
    expect(verifications.count).toBe(2);
  });

  it('verifies a remembered token again once the keys aged out, and refuses it once its key left the JWKS', async () => {
    const { check, verifications } = await guarded({ JWKS_MAX_AGE_MS: '1000', JWKS_COOLDOWN_MS: '0' });
    const presented = await token();
    await check(presented);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await check(presented);
    expect(verifications.count).toBe(2);
    const saved = published;
    published = [];
    try {
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await expect(check(presented)).rejects.toThrow(UnauthorizedException);
    } finally {
      published = saved;
    }
  });

  it('forgets a token once it expired (with the 30 s of clock tolerance), and keeps at most the configured number', async () => {
    const { check, verified } = await guarded();
    await check(await token());
    const principal: Principal = {
      subject: 'u',
      clientId: 'lab-web',
      scopes: [],
      tokenId: 'j',
      kind: 'user',
    };
    // Made-up tokens, each a canonical base64url string (a length a multiple of 4).
    const name = (i: number) => `t${String(i).padStart(7, '0')}`;
    const now = Math.floor(Date.now() / 1000);
    verified.remember('expired0', 'k1', now - 31, principal);
    verified.remember('within-tolerance', 'k1', now - 29, principal);
    verified.remember('unknown-key0', 'k9', now + 60, principal);
    expect(verified.principalOf('expired0')).toBeUndefined();
    expect(verified.principalOf('within-tolerance')).toBe(principal);
    expect(verified.principalOf('unknown-key0')).toBeUndefined();
    for (let i = 0; i < VERIFIED_TOKENS_MAX + 10; i++) {
      verified.remember(name(i), 'k1', now + 60, principal);
      if (i >= 1) expect(verified.principalOf(name(1))).toBe(principal); // in use all along: never the one to go
    }
    expect(verified.size).toBe(VERIFIED_TOKENS_MAX);
    expect(verified.principalOf(name(0))).toBeUndefined();
    expect(verified.principalOf(name(1))).toBe(principal);
    expect(verified.principalOf(name(VERIFIED_TOKENS_MAX + 9))).toBe(principal);
  });

  it('does not remember the other spellings of a token (unused bits of its signature set), which still verify', async () => {
    const { check, verifications, verified } = await guarded();
    const presented = await token('u1');
    const last = presented.at(-1) ?? '';
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const spellings = Array.from({ length: 16 }, (_, bits) => {
      const at = (alphabet.indexOf(last) & ~15) | bits;
      return presented.slice(0, -1) + alphabet[at];
    }).filter((spelling) => spelling !== presented);
    expect(spellings).toHaveLength(15);
    for (const spelling of spellings) expect((await check(spelling))?.subject).toBe('u1');
    expect(verified.size).toBe(0);
    expect(await check(presented)).toMatchObject({ subject: 'u1' });
    expect(await check(presented)).toMatchObject({ subject: 'u1' });
    expect(verified.size).toBe(1);
    expect(verifications.count).toBe(16);
  });
});
