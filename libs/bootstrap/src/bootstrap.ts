import { restoreDateTimeFormat } from './deferred-date-formats.js';
import './lazy-dependencies.js';
import { randomUUID } from 'node:crypto';
import { Logger, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { type AppConfig, ConfigError, configFor, type ServiceName } from '#lab/config';
import { ShutdownState } from '#lab/health';
import { createServiceLogger, LabLogger } from '#lab/logging';
import { ObservabilityModule } from '#lab/observability';
import { attachOpenApi } from '#lab/openapi';
import { shutdownTelemetry } from '#lab/telemetry';
import { ProblemDetailsFilter } from './problem-details.js';
import { LabValidationPipe } from './validation.js';

// Nest's modules have loaded with their DateTimeFormats deferred (deferred-date-formats.ts).
restoreDateTimeFormat();

const SANE_REQUEST_ID = /^[\w.:@-]{1,128}$/;

/**
 * The security headers on every response: what `@fastify/helmet` sends with its defaults and no
 * Content-Security-Policy (the services answer JSON; Swagger UI needs its inline script), in its order.
 * Fixed here because the plugin built a helmet middleware on every request in two async hooks, about
 * 2 % of a proxied request's CPU in the gateway; bootstrap.spec.ts checks they are the plugin's headers.
 */
export const SECURITY_HEADERS: readonly (readonly [name: string, value: string])[] = [
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Origin-Agent-Cluster', '?1'],
  ['Referrer-Policy', 'no-referrer'],
  ['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Frame-Options', 'SAMEORIGIN'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
];

/** Keeps a caller's `x-request-id` when it is sane, else makes one; answered on every response. */
export function requestIdOf(request: { headers: Record<string, string | string[] | undefined> }): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * Creates a service on Fastify with the lab's conventions, without listening (tests use this too).
 * `module` is the service's AppModule, which imports what it uses: `ObservabilityModule` for its logger,
 * traces, `/metrics` and `/admin/faults`. This adds nothing to it: Nest logs through the module's
 * `LabLogger`, and `ObservabilityModule.setup()` adds the request hooks of traces, logs and the fault
 * switch, in the order they must run.
 */
export async function createService(
  service: ServiceName,
  module: Type<unknown>,
): Promise<NestFastifyApplication> {
  const config = configFor(service);
  const adapter = new FastifyAdapter({
    bodyLimit: config.bodyLimitBytes,
    requestIdHeader: false,
    genReqId: requestIdOf,
    return503OnClosing: true,
    trustProxy: service === 'gateway' ? false : config.trustProxy,
  });
  // Nest's own lines wait for the module's logger (a failed start prints them: see runService).
  const app = await NestFactory.create<NestFastifyApplication>(module, adapter, {
    abortOnError: false,
    bufferLogs: true,
  });
  let logger: LabLogger;
  try {
    logger = app.get(LabLogger);
  } catch (error) {
    throw new Error(
      `${module.name} must import ObservabilityModule.forRoot() (logs, traces, /metrics, /admin/faults)`,
      { cause: error },
    );
  }
  app.useLogger(logger);
  ObservabilityModule.setup(app);
  const fastify = app.getHttpAdapter().getInstance();
  // On the raw response, as helmet sets them: every answer has them, also one a hook or an error ends.
  fastify.addHook('onRequest', (request, reply, done) => {
    for (const [name, value] of SECURITY_HEADERS) reply.raw.setHeader(name, value);
    reply.header('x-request-id', request.id);
    done();
  });
  // Also catches what Fastify raises before a handler runs (body too large, malformed JSON, an
  // injected fault).
  app.useGlobalFilters(new ProblemDetailsFilter());
  app.useGlobalPipes(new LabValidationPipe());
  attachOpenApi(app);
  return app;
}

export interface RunOptions {
  /**
   * Called once HTTP listens, not awaited: a hybrid app connects its message transports here
   * (`connectMicroservice`), so a broker that is down never delays readiness.
   */
  afterListen?: (app: NestFastifyApplication, config: AppConfig) => void;
}

/** Set by `npm start` on every service: stdin is a pipe from the launcher, which never writes to it. */
const EXIT_WITH_PARENT_FLAG = '--exit-with-parent';

/**
 * Starts a service: validates its configuration first (a bad variable is named, exit 1), listens,
 * and shuts down gracefully on SIGTERM/SIGINT: readiness turns 503, in-flight requests finish. Started
 * with `--exit-with-parent`, it shuts down the same way when its stdin ends: the launcher is gone,
 * however it went (the kernel closes the pipe even after a SIGKILL).
 */
export async function runService(
  service: ServiceName,
  module: Type<unknown>,
  options: RunOptions = {},
): Promise<void> {
  let logger: LabLogger | undefined;
  // Until it listens there is nothing to drain: a parent gone during start-up ends the service at once.
  let onParentGone = (): void => process.exit(1);
  if (process.argv.includes(EXIT_WITH_PARENT_FLAG)) watchParent(() => onParentGone());
  let config: AppConfig | undefined;
  try {
    config = configFor(service);
    const app = await createService(service, module);
    const appLogger = app.get(LabLogger);
    logger = appLogger;
    await app.listen(config.port, config.host);
    appLogger.log(`${service} listening on http://${config.host}:${config.port}`, 'Bootstrap');
    options.afterListen?.(app, config);
    const stop = stopOnSignals(app, config, appLogger);
    onParentGone = () => void stop('parent process gone (stdin closed)');
  } catch (error) {
    const detail = error instanceof ConfigError ? error.message : describeStartupError(error);
    process.stderr.write(`${service} failed to start: ${detail}\n`);
    // The application's logger may not exist yet: what Nest logged so far goes out through this one.
    logger ??= config && createServiceLogger(config);
    if (logger) Logger.overrideLogger(logger);
    Logger.flush();
    logger?.fatal(`failed to start: ${detail}`, 'Bootstrap');
    await logger?.close(2_000);
    await shutdownTelemetry();
    process.exit(1);
  }
}

/**
 * What stopped a start, for stderr and the fatal log record. Start-up steps wrap what failed under them
 * (`seeding the admin account … failed: …`, with the error as `cause`): a MongoDB that cannot be reached
 * or a taken port is named wherever it is in that chain, and an unexpected error keeps every stack.
 */
export function describeStartupError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const chain: Error[] = [error];
  for (let cause = error.cause; cause instanceof Error && chain.length < 8; cause = cause.cause)
    chain.push(cause);
  if (chain.some((e) => /^Mongo(ServerSelection|Network)Error$/.test(e.name))) {
    return `cannot reach MongoDB (check MONGO_URL): ${error.message}`;
  }
  if (chain.some((e) => 'code' in e && e.code === 'EADDRINUSE')) {
    return `${error.message}: the port is taken (set the service's *_PORT variable)`;
  }
  return chain.map((e, i) => `${i > 0 ? 'caused by: ' : ''}${e.stack ?? e.message}`).join('\n');
}

function stopOnSignals(
  app: NestFastifyApplication,
  config: AppConfig,
  logger: LabLogger,
): (reason: string) => Promise<void> {
  let stopping = false;
  const stop = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    const { drainMs, timeoutMs } = config.shutdown;
    logger.log(`${reason}: readiness now 503, draining for ${drainMs} ms, then closing`, 'Bootstrap');
    app.get(ShutdownState).begin();
    await new Promise((resolve) => setTimeout(resolve, drainMs));
    setTimeout(() => {
      logger.error(`in-flight work did not finish within ${timeoutMs} ms; exiting`, 'Bootstrap');
      process.exit(1);
    }, timeoutMs).unref();
    let code = 0;
    try {
      await app.close();
      logger.log('stopped', 'Bootstrap');
    } catch (error) {
      logger.error(`shutdown failed: ${error instanceof Error ? error.message : String(error)}`, 'Bootstrap');
      code = 1;
    }
    // What is still buffered leaves now: log records to Fluentd, spans to the exporters.
    await Promise.all([logger.close(2_000), shutdownTelemetry()]);
    process.exit(code);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return stop;
}

/** Calls `gone` when stdin ends: the parent that holds its other end has exited, however (the kernel closes it). */
function watchParent(gone: () => void): void {
  // Nobody reads stdout/stderr then either: a failed write (EPIPE) must not end the service mid-shutdown.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  process.stdin.once('end', gone).once('error', gone).resume();
}
