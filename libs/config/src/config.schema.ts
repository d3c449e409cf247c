export const SERVICE_NAMES = ['gateway', 'oauth', 'customer', 'product', 'order'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export const DEFAULT_PORTS: Readonly<Record<ServiceName, number>> = {
  gateway: 3000,
  oauth: 3001,
  customer: 3002,
  product: 3003,
  order: 3004,
};

export type RateLimitStore = 'memory' | 'mongodb';
export type NodeEnv = 'development' | 'production' | 'test';
export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'verbose';
export type MonitoringMode = 'auto' | 'on' | 'off';

export interface AppConfig {
  readonly service: ServiceName;
  readonly nodeEnv: NodeEnv;
  readonly host: string;
  readonly port: number;
  readonly logLevel: LogLevel;
  /** Fluentd forward target for the logs (stdout always); undefined: stdout only. */
  readonly fluentd: { readonly host: string; readonly port: number } | undefined;
  /** Log records kept for Fluentd while it is unreachable; beyond that they are dropped and counted. */
  readonly logBufferMaxRecords: number;
  /** Base URLs of every service, for calls between them (service names under Compose). */
  readonly urls: Readonly<Record<ServiceName, string>>;
  readonly mongo: {
    /** Undefined: the service runs on an in-process embedded MongoDB-compatible server. */
    readonly url: string | undefined;
    readonly database: string;
  };
  readonly embeddedMongo: { readonly port: number; readonly dataDir: string };
  /** Order events over RabbitMQ (order publishes, customer consumes). */
  readonly events: {
    /** Undefined (unset, or `none`): no broker, the lab runs without events (orders still work; their events wait in the outbox). */
    readonly amqpUrl: string | undefined;
    /** Redeliveries of an event whose processing failed, each after {@link retryDelayMs}, before the dead-letter queue. */
    readonly maxRetries: number;
    readonly retryDelayMs: number;
    /** Where the broker `npm start` starts itself (no AMQP_URL, rabbitmq-server installed) keeps its data. */
    readonly brokerDataDir: string;
  };
  /** Prometheus, Alertmanager and the alert-webhook that `npm start` runs beside the services (scripts/monitoring.mjs). */
  readonly monitoring: {
    /** auto: when prometheus and alertmanager are installed; on: required (start-up fails without them); off: never. */
    readonly mode: MonitoringMode;
    readonly prometheusPort: number;
    readonly alertmanagerPort: number;
    readonly alertWebhookPort: number;
    /** Scrape and evaluation interval; the rules' durations are divided by 15 s / this (Compose: 15 s). */
    readonly intervalSeconds: number;
    /** Generated configuration, Prometheus' TSDB (prometheus/) and Alertmanager's state (alertmanager/). */
    readonly dataDir: string;
  };
  readonly auth: {
    /** `iss` of every token, and what verifiers require. */
    readonly issuer: string;
    /** `aud` of every access token, and what verifiers require. */
    readonly audience: string;
    /** Minimum time between two JWKS fetches triggered by an unknown `kid`. */
    readonly jwksCooldownMs: number;
    /** How long a fetched JWKS is trusted before it is fetched again. */
    readonly jwksMaxAgeMs: number;
  };
  readonly oauth: {
    readonly accessTokenTtlSeconds: number;
    readonly refreshTokenTtlSeconds: number;
    /** PEM file with the RSA private signing key; undefined: generated on first start and stored. */
    readonly signingKeyFile: string | undefined;
    readonly adminEmail: string;
    readonly adminPassword: string;
    /** Secrets of the seeded clients (client_credentials grant). */
    readonly clientSecrets: { readonly order: string; readonly admin: string };
    /** Failed password grants per account before 429, within the window. */
    readonly loginMaxFailures: number;
    /**
     * Failed password grants from one client address, whichever accounts, before 429. Higher than the
     * per-account limit: many users share an address (an office, the Compose network's gateway).
     */
    readonly loginMaxFailuresPerAddress: number;
    readonly loginWindowSeconds: number;
    /**
     * Password hashes (scrypt, on libuv's thread pool) computed at once; more wait in a queue of at
     * most {@link passwordHashQueue}, beyond which a request is shed with 503 `overloaded`.
     */
    readonly passwordHashConcurrency: number;
    readonly passwordHashQueue: number;
    /** A hash that waited this long for a thread is shed too (503), whatever the queue's length. */
    readonly passwordHashMaxWaitMs: number;
  };
  /**
   * Addresses whose `X-Forwarded-For` is believed (proxy-addr syntax), so a backend sees the client's
   * address behind the gateway. The gateway itself is the edge and trusts nobody.
   */
  readonly trustProxy: string;
  /** Time allowed for a call to another service (headers and body each), per attempt. */
  readonly upstreamTimeoutMs: number;
  /** Per-upstream overrides of {@link upstreamTimeoutMs} (`UPSTREAM_TIMEOUTS_MS=product=500,…`). */
  readonly upstreamTimeoutsMs: Readonly<Partial<Record<ServiceName, number>>>;
  /** Retries of idempotent calls (GET, HEAD, PUT, DELETE, OPTIONS) on connection errors, timeouts, 500/502/503/504. */
  readonly retry: {
    /** Retries after the first attempt (0: none). */
    readonly max: number;
    /** Backoff: a random delay in [0, min(maxDelayMs, baseDelayMs·2^attempt)] (full jitter). */
    readonly baseDelayMs: number;
    readonly maxDelayMs: number;
    /** Retries allowed per upstream, as a share of its requests over the last 10 s… */
    readonly budgetRatio: number;
    /** …but at least this many per 10 s, so a quiet upstream can still be retried. */
    readonly budgetMinRetries: number;
  };
  /** One circuit breaker per upstream: opens on a failure ratio over a rolling window. */
  readonly breaker: {
    /** Share of failed calls (connection errors, timeouts, 5xx) that opens it, in (0, 1). */
    readonly failureRatio: number;
    /** Calls needed in the window before it may open. */
    readonly minRequests: number;
    readonly windowMs: number;
    /** Time open before one trial call is let through (half-open). */
    readonly halfOpenAfterMs: number;
  };
  /** The gateway's per-client rate limit (token subject, else client address). */
  readonly rateLimit: {
    /** Requests per window and client; 0: no limit. */
    readonly requests: number;
    readonly windowSeconds: number;
    /** memory: per gateway instance; mongodb: shared by every instance (the gateway's database on MONGO_URL). */
    readonly store: RateLimitStore;
  };
  /** Largest request body accepted (413 beyond). */
  readonly bodyLimitBytes: number;
  readonly shutdown: {
    /** How long readiness answers 503 before the server stops accepting requests. */
    readonly drainMs: number;
    /** Hard limit for in-flight requests to finish after that. */
    readonly timeoutMs: number;
  };
}

/** Every variable the lab reads, with its default; `.env.example` must list each one (a test checks). */
export const CONFIG_VARIABLES = [
  'NODE_ENV',
  'HOST',
  'LOG_LEVEL',
  'FLUENTD_HOST',
  'FLUENTD_PORT',
  'LOG_BUFFER_MAX_RECORDS',
  'GATEWAY_PORT',
  'OAUTH_PORT',
  'CUSTOMER_PORT',
  'PRODUCT_PORT',
  'ORDER_PORT',
  'GATEWAY_URL',
  'OAUTH_URL',
  'CUSTOMER_URL',
  'PRODUCT_URL',
  'ORDER_URL',
  'MONGO_URL',
  'MONGO_DB_PREFIX',
  'EMBEDDED_MONGO_PORT',
  'EMBEDDED_MONGO_DATA_DIR',
  'AMQP_URL',
  'EVENTS_MAX_RETRIES',
  'EVENTS_RETRY_DELAY_MS',
  'BROKER_DATA_DIR',
  'JWT_ISSUER',
  'JWT_AUDIENCE',
  'JWKS_COOLDOWN_MS',
  'JWKS_MAX_AGE_MS',
  'ACCESS_TOKEN_TTL_SECONDS',
  'REFRESH_TOKEN_TTL_SECONDS',
  'OAUTH_SIGNING_KEY_FILE',
  'OAUTH_ADMIN_EMAIL',
  'OAUTH_ADMIN_PASSWORD',
  'ORDER_CLIENT_SECRET',
  'ADMIN_CLIENT_SECRET',
  'LOGIN_MAX_FAILURES',
  'LOGIN_MAX_FAILURES_PER_ADDRESS',
  'LOGIN_WINDOW_SECONDS',
  'PASSWORD_HASH_CONCURRENCY',
  'PASSWORD_HASH_QUEUE',
  'PASSWORD_HASH_MAX_WAIT_MS',
  'TRUST_PROXY',
  'UPSTREAM_TIMEOUT_MS',
  'UPSTREAM_TIMEOUTS_MS',
  'RETRY_MAX',
  'RETRY_BASE_DELAY_MS',
  'RETRY_MAX_DELAY_MS',
  'RETRY_BUDGET_RATIO',
  'RETRY_BUDGET_MIN_RETRIES',
  'BREAKER_FAILURE_RATIO',
  'BREAKER_MIN_REQUESTS',
  'BREAKER_WINDOW_MS',
  'BREAKER_HALF_OPEN_AFTER_MS',
  'RATE_LIMIT_REQUESTS',
  'RATE_LIMIT_WINDOW_SECONDS',
  'RATE_LIMIT_STORE',
  'BODY_LIMIT_BYTES',
  'SHUTDOWN_DRAIN_MS',
  'SHUTDOWN_TIMEOUT_MS',
  'ALERT_WEBHOOK_PORT',
  'ALERT_WEBHOOK_TOKEN',
  'LAB_MONITORING',
  'PROMETHEUS_PORT',
  'ALERTMANAGER_PORT',
  'PROMETHEUS_INTERVAL',
  'MONITORING_DATA_DIR',
] as const;
export type ConfigVariable = (typeof CONFIG_VARIABLES)[number];

/**
 * A pessimistic time for one password hash on a busy machine (scrypt takes ~0.25 s of a free core).
 * oauth answers a sign-in or sign-up 503 `overloaded` when its hash is not done within
 * `PASSWORD_HASH_MAX_WAIT_MS` plus this (however slow the machine has become), and the gateway waits
 * for these routes `PASSWORD_HASH_MAX_WAIT_MS` plus four times this: oauth always answers first.
 */
export const PASSWORD_HASH_BOUND_MS = 1000;
