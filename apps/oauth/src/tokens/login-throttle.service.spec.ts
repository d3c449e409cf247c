import type { TestingModule } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseTestingModule } from '../../test/testing-module.js';
import { LoginThrottle, Reservation, type ThrottleKey, type Throttled } from './login-throttle.service.js';

describe(LoginThrottle.name, () => {
  let moduleRef: TestingModule;
  let throttle: LoginThrottle;
  const t0 = Date.now();
  const at = (seconds: number) => new Date(t0 + seconds * 1000);

  /** A wrong password at that time: reserved, then failed. */
  const fail = async (keys: ThrottleKey[], time: Date) => {
    const reservation = await throttle.reserve(keys, time);
    expect(reservation).toBeInstanceOf(Reservation);
    await (reservation as Reservation).failed(time);
  };
  /** Undefined when an attempt may be made at that time (the attempt is then cancelled again), else Retry-After. */
  const retryAfter = async (keys: ThrottleKey[], time: Date) => {
    const reservation = await throttle.reserve(keys, time);
    if (!(reservation instanceof Reservation)) return reservation.retryAfterSeconds;
    await reservation.cancelled();
    return undefined;
  };

  beforeAll(async () => {
    moduleRef = await databaseTestingModule([LoginThrottle], {
      LOGIN_MAX_FAILURES: '3',
      LOGIN_MAX_FAILURES_PER_ADDRESS: '5',
      LOGIN_WINDOW_SECONDS: '60',
    });
    throttle = moduleRef.get(LoginThrottle);
  });
  afterAll(async () => {
    await moduleRef?.close();
  });

  it('blocks an account after the maximum of failures until the oldest one leaves the window', async () => {
    const keys = (ip: string) => throttle.passwordKeys('victim@example.com', ip);
    await fail(keys('10.0.0.1'), at(0));
    await fail(keys('10.0.0.2'), at(10));
    expect(await retryAfter(keys('10.0.0.9'), at(15))).toBeUndefined();
    await fail(keys('10.0.0.3'), at(20));
    expect(await retryAfter(keys('10.0.0.9'), at(30))).toBe(30);
    expect(await retryAfter(keys('10.0.0.9'), at(59.5))).toBe(1);
    expect(await retryAfter(keys('10.0.0.9'), at(60))).toBeUndefined();
  });

  it('blocks an address after its own, higher maximum of failures, whichever accounts they were for', async () => {
    const ip = '192.0.2.7';
    const emails = ['a@example.com', 'b@example.com', 'c@example.com', 'd@example.com', 'e@example.com'];
    for (const [i, email] of emails.slice(0, 3).entries())
      await fail(throttle.passwordKeys(email, ip), at(i));
    // The per-account number of failures from one address does not lock everyone behind it out.
    expect(await retryAfter(throttle.passwordKeys('f@example.com', ip), at(5))).toBeUndefined();
    for (const [i, email] of emails.slice(3).entries())
      await fail(throttle.passwordKeys(email, ip), at(3 + i));
    expect(await retryAfter(throttle.passwordKeys('f@example.com', ip), at(5))).toBe(55);
    expect(await retryAfter(throttle.passwordKeys('d@example.com', '192.0.2.8'), at(5))).toBeUndefined();
  });

  it("forgets an account's failures after a success, and the success itself at the address, but not the address's failures", async () => {
    const ip = '198.51.100.1';
    const email = 'forgetful@example.com';
    for (let i = 0; i < 2; i++) await fail(throttle.passwordKeys(email, ip), at(i));
    const good = await throttle.reserve(throttle.passwordKeys(email, ip), at(2));
    await (good as Reservation).succeeded();
    // Three more failures fit for the account again; the address then holds five (2 + 3), not six.
    for (let i = 0; i < 3; i++) await fail(throttle.passwordKeys(email, '198.51.100.2'), at(3 + i));
    for (let i = 0; i < 3; i++) await fail(throttle.passwordKeys(`other-${i}@example.com`, ip), at(3 + i));
    expect(await retryAfter(throttle.passwordKeys('someone@example.com', ip), at(10))).toBe(50);
  });

  it('lets exactly the limit of 40 parallel attempts for one account through, and refuses the rest with Retry-After', async () => {
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        throttle.reserve(throttle.passwordKeys('admin@example.com', `203.0.113.${i}`), at(0)),
      ),
    );
    const reserved = results.filter((result): result is Reservation => result instanceof Reservation);
    expect(reserved).toHaveLength(3);
    const refused = results.filter((result): result is Throttled => !(result instanceof Reservation));
    expect(refused.map(({ retryAfterSeconds }) => retryAfterSeconds)).toEqual(Array(37).fill(60));
    // The refused ones took nothing at their addresses: each can still try another account.
    expect(await retryAfter(throttle.passwordKeys('x@example.com', '203.0.113.39'), at(1))).toBeUndefined();
  });

  it('lets exactly the address limit of 40 parallel attempts for different accounts from one address through', async () => {
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        throttle.reserve(throttle.passwordKeys(`user-${i}@example.com`, '203.0.114.1'), at(0)),
      ),
    );
    expect(results.filter((result) => result instanceof Reservation)).toHaveLength(5);
    // The accounts whose attempt was refused at the address were not charged for it.
    const refusedAccounts = results.flatMap((result, i) => (result instanceof Reservation ? [] : [i]));
    expect(
      await retryAfter(throttle.passwordKeys(`user-${refusedAccounts[0]}@example.com`, '203.0.114.2'), at(1)),
    ).toBeUndefined();
  });

  it('does not count an attempt that was cancelled before its password was checked', async () => {
    const keys = throttle.passwordKeys('shed@example.com', '203.0.115.1');
    for (let i = 0; i < 10; i++) expect(await retryAfter(keys, at(i))).toBeUndefined();
  });

  it('counts client authentications per client id, unknown ids alike, in address buckets of their own', async () => {
    const ip = '203.0.116.1';
    for (let i = 0; i < 3; i++)
      await fail(throttle.clientKeys('order-service', `203.0.116.${10 + i}`), at(i));
    expect(await retryAfter(throttle.clientKeys('order-service', '203.0.116.99'), at(5))).toBe(55);
    for (let i = 0; i < 5; i++) await fail(throttle.clientKeys(`made-up-${i}`, ip), at(i));
    expect(await retryAfter(throttle.clientKeys('made-up-new', ip), at(5))).toBe(55);
    // A flood of client ids from one address leaves the users behind that address alone.
    expect(await retryAfter(throttle.passwordKeys('user@example.com', ip), at(5))).toBeUndefined();
  });
});
