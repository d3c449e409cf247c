// The image's HEALTHCHECK: exit 0 when the app's /health/ready answers 200 within 2 s, else 1.
// The app is the image's APP; its port comes from the same configuration the app reads.
const app = process.env.APP ?? '';
let port;
if (app === 'alert-webhook') {
  port = Number(process.env.ALERT_WEBHOOK_PORT ?? 9095);
} else {
  const { loadConfig } = await import('#lab/config');
  port = loadConfig(app, process.env).port;
}
try {
  const response = await fetch(`http://127.0.0.1:${port}/health/ready`, {
    signal: AbortSignal.timeout(2000),
  });
  process.exit(response.status === 200 ? 0 : 1);
} catch (error) {
  console.error(`${app} not healthy: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
