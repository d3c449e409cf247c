// Alertmanager's default receiver (infra/alertmanager/alertmanager.yml): every alert becomes one log
// record of service "alert-webhook", on stdout and to Fluentd (tag app.alert-webhook), so Kibana shows
// alerts next to the logs that explain them. A plain node:http server: it has one route.
import { ConfigError } from '#lab/config';
import { createServiceLogger } from '#lab/logging';
import { ALERT_WEBHOOK_DEVELOPMENT_TOKEN, alertWebhookConfig } from './alert-webhook.config.js';
import { createAlertWebhook } from './alert-webhook.server.js';

const SERVICE = 'alert-webhook';
const CONTEXT = 'Bootstrap';
const STOP_TIMEOUT_MS = 10_000;

const config = (() => {
  try {
    return alertWebhookConfig();
  } catch (error) {
    process.stderr.write(
      `${SERVICE} failed to start: ${error instanceof ConfigError ? error.message : String(error)}\n`,
    );
    process.exit(1);
  }
})();

const logger = createServiceLogger({ ...config, service: SERVICE });
const webhook = createAlertWebhook({ logger, token: config.token });
if (config.token === undefined) {
  logger.warn(
    'ALERT_WEBHOOK_TOKEN is not set: notifications are taken from anyone who can reach this port',
    CONTEXT,
  );
} else if (config.token === ALERT_WEBHOOK_DEVELOPMENT_TOKEN) {
  logger.warn(
    "ALERT_WEBHOOK_TOKEN is the development default from .env, known to anyone who read the lab's sources: set it",
    CONTEXT,
  );
}

webhook.server.once('error', async (error: NodeJS.ErrnoException) => {
  const hint = error.code === 'EADDRINUSE' ? ' (the port is taken: set ALERT_WEBHOOK_PORT)' : '';
  logger.fatal(`failed to start: ${error.message}${hint}`, CONTEXT);
  await logger.close(2_000);
  process.exit(1);
});
webhook.server.listen(config.port, config.host, () => {
  logger.log(
    `${SERVICE} listening on http://${config.host}:${config.port} (POST /alerts, GET /alerts)`,
    CONTEXT,
  );
});

let stopping = false;
const stop = async (reason: string) => {
  if (stopping) return;
  stopping = true;
  logger.log(`${reason}: readiness now 503, closing`, CONTEXT);
  setTimeout(() => {
    logger.error(`in-flight requests did not finish within ${STOP_TIMEOUT_MS} ms; exiting`, CONTEXT);
    process.exit(1);
  }, STOP_TIMEOUT_MS).unref();
  await webhook.close();
  logger.log('stopped', CONTEXT);
  // The alert records still buffered for Fluentd leave now.
  await logger.close(5_000);
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
// `npm start` passes --exit-with-parent with a stdin pipe it never writes: its end means the launcher is gone.
if (process.argv.includes('--exit-with-parent')) {
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  const parentGone = () => void stop('parent process gone (stdin closed)');
  process.stdin.once('end', parentGone).once('error', parentGone).resume();
}
