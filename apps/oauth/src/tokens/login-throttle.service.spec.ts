import type { TestingModule } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseTestingModule } from '../../test/testing-module.js';
import { LoginThrottle } from './login-throttle.service.js';

describe(LoginThrottle.name, () => {
  let moduleRef: TestingModule;
  let throttle: LoginThrottle;
  const t0 = Date.now();
  const at = (seconds: number) => new Date(t0 + seconds * 1000);

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
    const email = 'victim@example.com';
    await throttle.recordFailure({ email, ip: '10.0.0.1' }, at(0));
    await throttle.recordFailure({ email, ip: '10.0.0.2' }, at(10));
    expect(await throttle.retryAfterSeconds({ email, ip: '10.0.0.9' }, at(15))).toBeUndefined();
    await throttle.recordFailure({ email, ip: '10.0.0.3' }, at(20));
    expect(await throttle.retryAfterSeconds({ email, ip: '10.0.0.9' }, at(30))).toBe(30);
    expect(await throttle.retryAfterSeconds({ email, ip: '10.0.0.9' }, at(59.5))).toBe(1);
    expect(await throttle.retryAfterSeconds({ email, ip: '10.0.0.9' }, at(60))).toBeUndefined();
  });

  it('blocks an address after its own, higher maximum of failures, whichever accounts they were for', async () => {
    const ip = '192.0.2.7';
    const emails = ['a@example.com', 'b@example.com', 'c@example.com', 'd@example.com', 'e@example.com'];
    for (const [i, email] of emails.slice(0, 3).entries()) await throttle.recordFailure({ email, ip }, at(i));
    // The per-account number of failures from one address does not lock everyone behind it out.
    expect(await throttle.retryAfterSeconds({ email: 'f@example.com', ip }, at(5))).toBeUndefined();
    for (const [i, email] of emails.slice(3).entries()) await throttle.recordFailure({ email, ip }, at(3 + i));
    expect(await throttle.retryAfterSeconds({ email: 'f@example.com', ip }, at(5))).toBe(55);
    expect(await throttle.retryAfterSeconds({ email: 'd@example.com', ip: '192.0.2.8' }, at(5))).toBeUndefined();
  });

  it("clears an account's failures after a success, but not its address's", async () => {
    const ip = '198.51.100.1';
    for (let i = 0; i < 5; i++) await throttle.recordFailure({ email: 'forgetful@example.com', ip }, at(i));
    await throttle.clearAccount('forgetful@example.com');
    expect(await throttle.retryAfterSeconds({ email: 'forgetful@example.com', ip: '198.51.100.2' }, at(5))).toBeUndefined();
    expect(await throttle.retryAfterSeconds({ email: 'forgetful@example.com', ip }, at(5))).toBe(55);
  });
});
