export const SERVICE_NAMES = ['gateway', 'oauth', 'customer', 'product', 'order'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export const DEFAULT_PORTS: Readonly<Record<ServiceName, number>> = {
  gateway: 3000,
  oauth: 3001,
  customer: 3002,
  product: 3003,
  order: 3004,
};

export type NodeEnv = 'development' | 'production' | 'test';
export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'verbose';

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
  };
  /**
   * Addresses whose `X-Forwarded-For` is believed (proxy-addr syntax), so a backend sees the client's
   * address behind the gateway. The gateway itself is the edge and trusts nobody.
   */
  readonly trustProxy: string;
  /** Time allowed for a call to another service (headers and body each). */
  readonly upstreamTimeoutMs: number;
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
  'TRUST_PROXY',
  'UPSTREAM_TIMEOUT_MS',
  'BODY_LIMIT_BYTES',
  'SHUTDOWN_DRAIN_MS',
  'SHUTDOWN_TIMEOUT_MS',
  'ALERT_WEBHOOK_PORT',
] as const;
export type ConfigVariable = (typeof CONFIG_VARIABLES)[number];
