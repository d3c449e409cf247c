import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '#lab/testing';
import { CONFIG_VARIABLES } from './config.schema.js';
import { ConfigError, loadConfig } from './load-config.js';

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
    expect(message).toContain('MONGO_URL must be a URL starting with mongodb:// or mongodb+srv:// (got "postgres://db")');
    expect(message).toContain('LOG_LEVEL must be one of');
    expect(message).toContain('SHUTDOWN_DRAIN_MS');
    expect((error as ConfigError).problems).toHaveLength(4);
  });

  it('accepts a real MongoDB URL', () => {
    expect(loadConfig('oauth', { MONGO_URL: 'mongodb://mongo:27017' }).mongo.url).toBe('mongodb://mongo:27017');
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
