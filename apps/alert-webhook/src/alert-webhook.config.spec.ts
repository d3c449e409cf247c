import { describe, expect, it } from 'vitest';
import { loadAlertWebhookConfig } from './alert-webhook.config.js';
import { ConfigError } from '#lab/config';

describe(loadAlertWebhookConfig.name, () => {
  it('listens on 127.0.0.1:9095 at info, stdout only, by default', () => {
    const config = loadAlertWebhookConfig({});
    expect(config).toEqual({
      host: '127.0.0.1',
      port: 9095,
      logLevel: 'info',
      fluentd: undefined,
      logBufferMaxRecords: 10_000,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads its port, host, level and Fluentd target, treating empty variables as unset', () => {
    const config = loadAlertWebhookConfig({
      ALERT_WEBHOOK_PORT: '19095',
      HOST: '0.0.0.0',
      LOG_LEVEL: 'debug',
      FLUENTD_HOST: 'fluentd',
      FLUENTD_PORT: '24225',
      LOG_BUFFER_MAX_RECORDS: ' ',
    });
    expect(config).toMatchObject({
      host: '0.0.0.0',
      port: 19095,
      logLevel: 'debug',
      logBufferMaxRecords: 10_000,
    });
    expect(config.fluentd).toEqual({ host: 'fluentd', port: 24225 });
  });

  it('takes a bearer token of 16 or more printable characters, and none when unset', () => {
    expect(loadAlertWebhookConfig({ ALERT_WEBHOOK_TOKEN: 'a-token-of-24-characters' }).token).toBe(
      'a-token-of-24-characters',
    );
    expect(loadAlertWebhookConfig({ ALERT_WEBHOOK_TOKEN: '' }).token).toBeUndefined();
    for (const bad of ['short', 'has a space in the middle']) {
      expect(() => loadAlertWebhookConfig({ ALERT_WEBHOOK_TOKEN: bad })).toThrow(
        /ALERT_WEBHOOK_TOKEN must be 16 to 512 printable characters/,
      );
    }
  });

  it('names every bad variable with the value it got', () => {
    let error: unknown;
    try {
      loadAlertWebhookConfig({
        ALERT_WEBHOOK_PORT: '9095x',
        HOST: 'bad host',
        LOG_LEVEL: 'loud',
        FLUENTD_HOST: 'fluentd',
        FLUENTD_PORT: '0',
        LOG_BUFFER_MAX_RECORDS: '-5',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { message, problems } = error as ConfigError;
    expect(message).toContain('Invalid configuration for alert-webhook');
    expect(message).toContain('ALERT_WEBHOOK_PORT must be an integer from 1 to 65535 (got "9095x")');
    expect(message).toContain('HOST must be a host name or IP address (got "bad host")');
    expect(message).toContain('LOG_LEVEL must be one of error, warn, info, debug, verbose (got "loud")');
    expect(message).toContain('FLUENTD_PORT must be an integer from 1 to 65535 (got "0")');
    expect(message).toContain('LOG_BUFFER_MAX_RECORDS must be an integer from 1 to 1000000 (got "-5")');
    expect(problems).toHaveLength(5);
  });
});
