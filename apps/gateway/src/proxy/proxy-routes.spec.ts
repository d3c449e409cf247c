import { describe, expect, it } from 'vitest';
import { loadConfig } from '#lab/config';
import { hashingTimeoutMs } from './proxy-routes.js';

describe(hashingTimeoutMs.name, () => {
  it("outlasts oauth's longest hash wait plus the hash, and never shortens a longer upstream timeout", () => {
    expect(hashingTimeoutMs(loadConfig('gateway', {}))).toBe(5000);
    expect(hashingTimeoutMs(loadConfig('gateway', { UPSTREAM_TIMEOUT_MS: '500' }))).toBe(4000);
    expect(
      hashingTimeoutMs(
        loadConfig('gateway', { UPSTREAM_TIMEOUT_MS: '500', PASSWORD_HASH_MAX_WAIT_MS: '6000' }),
      ),
    ).toBe(8000);
    expect(hashingTimeoutMs(loadConfig('gateway', { UPSTREAM_TIMEOUTS_MS: 'oauth=20000' }))).toBe(20000);
  });
});
