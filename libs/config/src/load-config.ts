import {
  type AppConfig,
  type ConfigVariable,
  DEFAULT_PORTS,
  type LogLevel,
  type MonitoringMode,
  type NodeEnv,
  type RateLimitStore,
  SERVICE_NAMES,
  type ServiceName,
} from './config.schema.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** Thrown with every invalid variable named, so one start-up shows all of them. */
export class ConfigError extends Error {
  constructor(
    readonly service: string,
    readonly problems: readonly string[],
  ) {
    super(`Invalid configuration for ${service}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

class Reader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  raw(name: ConfigVariable): string | undefined {
    const value = this.env[name]?.trim();
    return value === '' ? undefined : value;
  }

  oneOf<T extends string>(name: ConfigVariable, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    return this.fail(name, `must be one of ${allowed.join(', ')}`, value, fallback);
  }

  integer(name: ConfigVariable, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const n = Number(value);
    if (/^\d+$/.test(value) && n >= min && n <= max) return n;
    return this.fail(name, `must be an integer from ${min} to ${max}`, value, fallback);
  }

  /** A decimal number in [min, max] (`exclusive`: in (min, max)). */
  decimal(name: ConfigVariable, fallback: number, min: number, max: number, exclusive = false): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const n = Number(value);
    const inRange = exclusive ? n > min && n < max : n >= min && n <= max;
    if (/^\d+(\.\d+)?$|^\.\d+$/.test(value) && inRange) return n;
    const bounds = exclusive ? `greater than ${min} and less than ${max}` : `from ${min} to ${max}`;
    return this.fail(name, `must be a number ${bounds}`, value, fallback);
  }

  /** `service=ms,service=ms`: per-service milliseconds. */
  perService(name: ConfigVariable, min: number, max: number): Partial<Record<ServiceName, number>> {
    const value = this.raw(name);
    if (value === undefined) return {};
    const result: Partial<Record<ServiceName, number>> = {};
    for (const entry of value.split(',')) {
      const match = /^\s*([a-z]+)\s*=\s*(\d+)\s*$/.exec(entry);
      const service = match?.[1] as ServiceName | undefined;
      const ms = Number(match?.[2]);
      if (!match || !service || !SERVICE_NAMES.includes(service) || ms < min || ms > max) {
        return this.fail(
          name,
          `must be a comma-separated list of <service>=<milliseconds> (services: ${SERVICE_NAMES.join(', ')}; ${min} to ${max} ms)`,
          value,
          {},
        );
      }
      result[service] = ms;
    }
    return result;
  }

  url(name: ConfigVariable, fallback: string | undefined, protocols: readonly string[]): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    let protocol: string | undefined;
    try {
      protocol = new URL(value).protocol;
    } catch {
      protocol = undefined;
    }
    if (protocol && protocols.includes(protocol)) return value.replace(/\/+$/, '');
    return this.fail(
      name,
      `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
      value,
      fallback,
    );
  }

  /** Whole seconds written as a duration, `15s` or `1m`, from min to max seconds. */
  seconds(name: ConfigVariable, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const match = /^(\d+)(s|m)$/.exec(value);
    const n = match ? Number(match[1]) * (match[2] === 'm' ? 60 : 1) : Number.NaN;
    if (n >= min && n <= max) return n;
    return this.fail(name, `must be a duration from ${min}s to ${max}s, like 15s or 1m`, value, fallback);
  }

  text(name: ConfigVariable, fallback: string, pattern: RegExp, rule: string): string {
    return this.optionalText(name, pattern, rule) ?? fallback;
  }

  optionalText(name: ConfigVariable, pattern: RegExp, rule: string): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    return pattern.test(value) ? value : this.fail(name, rule, value, undefined);
  }

  private fail<T>(name: string, rule: string, value: string, fallback: T): T {
    this.problems.push(`${name} ${rule} (got ${JSON.stringify(value)})`);
    return fallback;
  }
}

const PORT_VARIABLES: Readonly<Record<ServiceName, ConfigVariable>> = {
  gateway: 'GATEWAY_PORT',
  oauth: 'OAUTH_PORT',
  customer: 'CUSTOMER_PORT',
  product: 'PRODUCT_PORT',
  order: 'ORDER_PORT',
};
const URL_VARIABLES: Readonly<Record<ServiceName, ConfigVariable>> = {
  gateway: 'GATEWAY_URL',
  oauth: 'OAUTH_URL',
  customer: 'CUSTOMER_URL',
  product: 'PRODUCT_URL',
  order: 'ORDER_URL',
};

/**
 * The development defaults of the secrets: fine on a laptop, known to everyone who read this file.
 * {@link defaultSecretsIn} names the ones a configuration still uses.
 */
export const DEFAULT_SECRETS = {
  OAUTH_ADMIN_PASSWORD: 'admin-password',
  ORDER_CLIENT_SECRET: 'order-service-secret',
  ADMIN_CLIENT_SECRET: 'admin-cli-secret',
} as const satisfies Partial<Record<ConfigVariable, string>>;

/** The variables whose secret is still its development default, to warn about under NODE_ENV=production. */
export function defaultSecretsIn(config: AppConfig): (keyof typeof DEFAULT_SECRETS)[] {
  const values: Record<keyof typeof DEFAULT_SECRETS, string> = {
    OAUTH_ADMIN_PASSWORD: config.oauth.adminPassword,
    ORDER_CLIENT_SECRET: config.oauth.clientSecrets.order,
    ADMIN_CLIENT_SECRET: config.oauth.clientSecrets.admin,
  };
  return (Object.keys(DEFAULT_SECRETS) as (keyof typeof DEFAULT_SECRETS)[]).filter(
    (name) => values[name] === DEFAULT_SECRETS[name],
  );
}

/** Validates the environment for one service; throws {@link ConfigError} naming every bad variable. */
export function loadConfig(service: ServiceName, env: Env): AppConfig {
  if (!SERVICE_NAMES.includes(service)) throw new ConfigError(String(service), ['unknown service name']);
  const read = new Reader(env);
  const ports = Object.fromEntries(
    SERVICE_NAMES.map((name) => [name, read.integer(PORT_VARIABLES[name], DEFAULT_PORTS[name], 1, 65535)]),
  ) as Record<ServiceName, number>;
  const urls = Object.fromEntries(
    SERVICE_NAMES.map((name) => [
      name,
      read.url(URL_VARIABLES[name], `http://127.0.0.1:${ports[name]}`, ['http:', 'https:']),
    ]),
  ) as Record<ServiceName, string>;

  const config: AppConfig = {
    service,
    nodeEnv: read.oneOf<NodeEnv>('NODE_ENV', ['development', 'production', 'test'], 'development'),
    host: read.text('HOST', '127.0.0.1', /^[\w.:-]+$/, 'must be a host name or IP address'),
    port: ports[service],
    logLevel: read.oneOf<LogLevel>('LOG_LEVEL', ['error', 'warn', 'info', 'debug', 'verbose'], 'info'),
    fluentd: ((host) => (host ? { host, port: read.integer('FLUENTD_PORT', 24224, 1, 65535) } : undefined))(
      read.optionalText('FLUENTD_HOST', /^[\w.:-]+$/, 'must be a host name or IP address'),
    ),
    logBufferMaxRecords: read.integer('LOG_BUFFER_MAX_RECORDS', 10_000, 1, 1_000_000),
    urls,
    mongo: {
      url: read.url('MONGO_URL', undefined, ['mongodb:', 'mongodb+srv:']),
      database: `${read.text('MONGO_DB_PREFIX', 'lab', /^[A-Za-z0-9_-]{1,40}$/, 'must be 1-40 letters, digits, _ or -')}_${service}`,
    },
    embeddedMongo: {
      port: read.integer('EMBEDDED_MONGO_PORT', 27027, 0, 65535),
      dataDir: read.text('EMBEDDED_MONGO_DATA_DIR', '.data/mongo', /^[^\0]+$/, 'must be a directory path'),
    },
    events: {
      // `none`: no events, and `npm start` starts no broker of its own either.
      amqpUrl:
        env.AMQP_URL?.trim() === 'none' ? undefined : read.url('AMQP_URL', undefined, ['amqp:', 'amqps:']),
      maxRetries: read.integer('EVENTS_MAX_RETRIES', 3, 0, 100),
      retryDelayMs: read.integer('EVENTS_RETRY_DELAY_MS', 5000, 10, 3_600_000),
      brokerDataDir: read.text('BROKER_DATA_DIR', '.data/rabbitmq', /^[^\0]+$/, 'must be a directory path'),
    },
    monitoring: {
      mode: read.oneOf<MonitoringMode>('LAB_MONITORING', ['auto', 'on', 'off'], 'auto'),
      prometheusPort: read.integer('PROMETHEUS_PORT', 9090, 1, 65535),
      alertmanagerPort: read.integer('ALERTMANAGER_PORT', 9093, 1, 65535),
      alertWebhookPort: read.integer('ALERT_WEBHOOK_PORT', 9095, 1, 65535),
      intervalSeconds: read.seconds('PROMETHEUS_INTERVAL', 15, 1, 60),
      dataDir: read.text('MONITORING_DATA_DIR', '.data/monitoring', /^[^\0]+$/, 'must be a directory path'),
    },
    auth: {
      issuer: read.url('JWT_ISSUER', 'http://localhost:3000', ['http:', 'https:']) as string,
      audience: read.text('JWT_AUDIENCE', 'observability-lab', /^\S{1,200}$/, 'must be a non-empty word'),
      jwksCooldownMs: read.integer('JWKS_COOLDOWN_MS', 5000, 0, 600_000),
      jwksMaxAgeMs: read.integer('JWKS_MAX_AGE_MS', 600_000, 1000, 86_400_000),
    },
    oauth: {
      accessTokenTtlSeconds: read.integer('ACCESS_TOKEN_TTL_SECONDS', 900, 5, 86_400),
      refreshTokenTtlSeconds: read.integer('REFRESH_TOKEN_TTL_SECONDS', 1_209_600, 60, 31_536_000),
      signingKeyFile: read.optionalText('OAUTH_SIGNING_KEY_FILE', /^[^\0]+$/, 'must be a file path'),
      adminEmail: read.text(
        'OAUTH_ADMIN_EMAIL',
        'admin@lab.local',
        /^[^\s@]+@[^\s@]+$/,
        'must be an email address',
      ),
      adminPassword: read.text(
        'OAUTH_ADMIN_PASSWORD',
        DEFAULT_SECRETS.OAUTH_ADMIN_PASSWORD,
        /^.{8,128}$/,
        'must be 8 to 128 characters',
      ),
      clientSecrets: {
        order: read.text(
          'ORDER_CLIENT_SECRET',
          DEFAULT_SECRETS.ORDER_CLIENT_SECRET,
          /^.{12,200}$/,
          'must be 12 to 200 characters',
        ),
        admin: read.text(
          'ADMIN_CLIENT_SECRET',
          DEFAULT_SECRETS.ADMIN_CLIENT_SECRET,
          /^.{12,200}$/,
          'must be 12 to 200 characters',
        ),
      },
      loginMaxFailures: read.integer('LOGIN_MAX_FAILURES', 5, 1, 1000),
      loginMaxFailuresPerAddress: read.integer('LOGIN_MAX_FAILURES_PER_ADDRESS', 50, 1, 100_000),
      loginWindowSeconds: read.integer('LOGIN_WINDOW_SECONDS', 300, 1, 86_400),
      passwordHashConcurrency: read.integer('PASSWORD_HASH_CONCURRENCY', 2, 1, 64),
      passwordHashQueue: read.integer('PASSWORD_HASH_QUEUE', 16, 0, 10_000),
      passwordHashMaxWaitMs: read.integer('PASSWORD_HASH_MAX_WAIT_MS', 2000, 10, 60_000),
    },
    trustProxy: read.text(
      'TRUST_PROXY',
      '127.0.0.1',
      /^[\w.:/,-]+$/,
      'must be a comma-separated list of addresses, ranges or loopback/linklocal/uniquelocal',
    ),
    upstreamTimeoutMs: read.integer('UPSTREAM_TIMEOUT_MS', 5000, 50, 120_000),
    upstreamTimeoutsMs: Object.freeze(read.perService('UPSTREAM_TIMEOUTS_MS', 50, 120_000)),
    retry: {
      max: read.integer('RETRY_MAX', 2, 0, 2),
      baseDelayMs: read.integer('RETRY_BASE_DELAY_MS', 50, 1, 10_000),
      maxDelayMs: read.integer('RETRY_MAX_DELAY_MS', 1000, 1, 60_000),
      budgetRatio: read.decimal('RETRY_BUDGET_RATIO', 0.2, 0, 1),
      budgetMinRetries: read.integer('RETRY_BUDGET_MIN_RETRIES', 10, 0, 10_000),
    },
    breaker: {
      failureRatio: read.decimal('BREAKER_FAILURE_RATIO', 0.5, 0, 1, true),
      minRequests: read.integer('BREAKER_MIN_REQUESTS', 10, 1, 100_000),
      windowMs: read.integer('BREAKER_WINDOW_MS', 10_000, 1000, 600_000),
      halfOpenAfterMs: read.integer('BREAKER_HALF_OPEN_AFTER_MS', 5000, 100, 600_000),
    },
    rateLimit: {
      requests: read.integer('RATE_LIMIT_REQUESTS', 600, 0, 1_000_000_000),
      windowSeconds: read.integer('RATE_LIMIT_WINDOW_SECONDS', 60, 1, 86_400),
      store: read.oneOf<RateLimitStore>('RATE_LIMIT_STORE', ['memory', 'mongodb'], 'memory'),
    },
    bodyLimitBytes: read.integer('BODY_LIMIT_BYTES', 1_048_576, 1024, 104_857_600),
    shutdown: {
      drainMs: read.integer('SHUTDOWN_DRAIN_MS', 0, 0, 120_000),
      timeoutMs: read.integer('SHUTDOWN_TIMEOUT_MS', 10_000, 100, 600_000),
    },
  };
  if (read.problems.length > 0) throw new ConfigError(service, read.problems);
  return Object.freeze(config);
}
