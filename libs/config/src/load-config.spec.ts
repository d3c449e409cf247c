import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '#lab/testing';
import { CONFIG_VARIABLES } from './config.schema.js';
import { ConfigError, defaultSecretsIn, loadConfig } from './load-config.js';

describe(loadConfig.name, () => {
  it('gives every service its default port, loopback URLs for the others and its own database', () => {
    const config = loadConfig('order', {});
    expect(config.port).toBe(3004);
    expect(config.host).toBe('127.0.0.1');
    expect(config.urls.product).toBe('http://127.0.0.1:3003');
    expect(config.mongo).toEqual({ url: undefined, database: 'lab_order' });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('derives the default URL of a service from its port and trims trailing slashes', () => {
    const config = loadConfig('gateway', { PRODUCT_PORT: '4003', ORDER_URL: 'http://order:3004/' });
    expect(config.urls.product).toBe('http://127.0.0.1:4003');
    expect(config.urls.order).toBe('http://order:3004');
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig('customer', { MONGO_URL: '', CUSTOMER_PORT: ' ' }).port).toBe(3002);
  });

  it('names every bad variable with the value it got', () => {
    let error: unknown;
    try {
      loadConfig('product', {
        PRODUCT_PORT: '70000',
        MONGO_URL: 'postgres://db',
        LOG_LEVEL: 'loud',
        SHUTDOWN_DRAIN_MS: '-1',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toContain('Invalid configuration for product');
    expect(message).toContain('PRODUCT_PORT must be an integer from 1 to 65535 (got "70000")');
    expect(message).toContain(
      'MONGO_URL must be a URL starting with mongodb:// or mongodb+srv:// (got "postgres://db")',
    );
    expect(message).toContain('LOG_LEVEL must be one of');
    expect(message).toContain('SHUTDOWN_DRAIN_MS');
    expect((error as ConfigError).problems).toHaveLength(4);
  });

  it("reads the monitoring npm start runs: Compose's interval and ports by default, durations in whole seconds", () => {
    expect(loadConfig('order', {}).monitoring).toEqual({
      mode: 'auto',
      prometheusPort: 9090,
      alertmanagerPort: 9093,
      alertWebhookPort: 9095,
      intervalSeconds: 15,
      dataDir: '.data/monitoring',
    });
    expect(
      loadConfig('order', { PROMETHEUS_INTERVAL: '1s', LAB_MONITORING: 'off' }).monitoring,
    ).toMatchObject({
      mode: 'off',
      intervalSeconds: 1,
    });
    expect(loadConfig('order', { PROMETHEUS_INTERVAL: '1m' }).monitoring.intervalSeconds).toBe(60);
    for (const bad of ['500ms', '0s', '2m', '15', 'fast'])
      expect(() => loadConfig('order', { PROMETHEUS_INTERVAL: bad })).toThrow(
        `PROMETHEUS_INTERVAL must be a duration from 1s to 60s, like 15s or 1m (got "${bad}")`,
      );
    expect(() => loadConfig('order', { LAB_MONITORING: 'yes' })).toThrow(
      'LAB_MONITORING must be one of auto, on, off',
    );
  });

  it('reads the resilience settings with their defaults, and per-upstream timeouts', () => {
    const config = loadConfig('gateway', {});
    expect(config.upstreamTimeoutsMs).toEqual({});
    expect(config.retry).toEqual({
      max: 2,
      baseDelayMs: 50,
      maxDelayMs: 1000,
      budgetRatio: 0.2,
      budgetMinRetries: 10,
    });
    expect(config.breaker).toEqual({
      failureRatio: 0.5,
      minRequests: 10,
      windowMs: 10_000,
      halfOpenAfterMs: 5000,
    });
    expect(config.rateLimit).toEqual({ requests: 600, windowSeconds: 60, store: 'memory' });
    const tuned = loadConfig('gateway', {
      UPSTREAM_TIMEOUTS_MS: 'product=500, customer=1000',
      RETRY_BUDGET_RATIO: '0.1',
      RATE_LIMIT_STORE: 'mongodb',
    });
    expect(tuned.upstreamTimeoutsMs).toEqual({ product: 500, customer: 1000 });
    expect(tuned.retry.budgetRatio).toBe(0.1);
    expect(tuned.rateLimit.store).toBe('mongodb');
  });

  it('names bad resilience variables', () => {
    let error: unknown;
    try {
      loadConfig('gateway', {
        UPSTREAM_TIMEOUTS_MS: 'product=fast',
        RETRY_MAX: '5',
        BREAKER_FAILURE_RATIO: '1',
        RATE_LIMIT_STORE: 'redis',
      });
    } catch (caught) {
      error = caught;
    }
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(
      /^UPSTREAM_TIMEOUTS_MS must be a comma-separated list of <service>=<milliseconds>.*\(got "product=fast"\)$/,
    );
    expect(problems.join('\n')).toContain('RETRY_MAX must be an integer from 0 to 2');
    expect(problems.join('\n')).toContain(
      'BREAKER_FAILURE_RATIO must be a number greater than 0 and less than 1 (got "1")',
    );
    expect(problems.join('\n')).toContain('RATE_LIMIT_STORE must be one of memory, mongodb');
    expect(() => loadConfig('gateway', { UPSTREAM_TIMEOUTS_MS: 'billing=100' })).toThrow(
      /UPSTREAM_TIMEOUTS_MS/,
    );
  });

  it('accepts a real MongoDB URL', () => {
    expect(loadConfig('oauth', { MONGO_URL: 'mongodb://mongo:27017' }).mongo.url).toBe(
      'mongodb://mongo:27017',
    );
  });
});

describe(defaultSecretsIn.name, () => {
  it('names every secret still at its development default, and none once each is set', () => {
    expect(defaultSecretsIn(loadConfig('oauth', {}))).toEqual([
      'OAUTH_ADMIN_PASSWORD',
      'ORDER_CLIENT_SECRET',
      'ADMIN_CLIENT_SECRET',
    ]);
    expect(defaultSecretsIn(loadConfig('oauth', { ORDER_CLIENT_SECRET: 'a-secret-of-our-own' }))).toEqual([
      'OAUTH_ADMIN_PASSWORD',
      'ADMIN_CLIENT_SECRET',
    ]);
    const own = {
      OAUTH_ADMIN_PASSWORD: 'correct horse',
      ORDER_CLIENT_SECRET: 'another secret',
      ADMIN_CLIENT_SECRET: 'a third secret',
    };
    expect(defaultSecretsIn(loadConfig('oauth', own))).toEqual([]);
  });
});

describe('.env.example', () => {
  const listed = readFileSync(join(repoRoot, '.env.example'), 'utf8')
    .split('\n')
    .map((line) => /^([A-Z][A-Z0-9_]*)=/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined);

  it('lists every variable the services read, and only those', () => {
    expect([...listed].sort()).toEqual([...CONFIG_VARIABLES].sort());
  });

  it('holds values that pass validation for every service', () => {
    const env = Object.fromEntries(
      readFileSync(join(repoRoot, '.env.example'), 'utf8')
        .split('\n')
        .map((line) => /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line))
        .filter((match) => match !== null)
        .map((match) => [match[1], match[2]]),
    );
    for (const service of ['gateway', 'oauth', 'customer', 'product', 'order'] as const) {
      expect(() => loadConfig(service, env)).not.toThrow();
    }
  });
});
