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
  /** Base URLs of every service, for calls between them (service names under Compose). */
  readonly urls: Readonly<Record<ServiceName, string>>;
  readonly mongo: {
    /** Undefined: the service runs on an in-process embedded MongoDB-compatible server. */
    readonly url: string | undefined;
    readonly database: string;
  };
  readonly embeddedMongo: { readonly port: number; readonly dataDir: string };
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
  'SHUTDOWN_DRAIN_MS',
  'SHUTDOWN_TIMEOUT_MS',
] as const;
export type ConfigVariable = (typeof CONFIG_VARIABLES)[number];
