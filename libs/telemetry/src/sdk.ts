import { NodeSDK } from '@opentelemetry/sdk-node';
import { NoopSpanProcessor } from '@opentelemetry/sdk-trace';
import { labInstrumentations } from './instrumentations.js';
import { setTelemetryHandle, shutdownTelemetry } from './shutdown.js';

type Env = Record<string, string | undefined>;

let started = false;

/**
 * What `OTEL_TRACES_EXPORTER` should be. The SDK's own default is `otlp` to localhost:4318, which on a
 * laptop without a collector means an error every few seconds; here nothing is exported unless the
 * exporter list or an endpoint is given (an endpoint alone selects its exporter).
 */
export function tracesExporterFor(env: Readonly<Env>): string {
  const given = env.OTEL_TRACES_EXPORTER?.trim();
  if (given) return given;
  const chosen: string[] = [];
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim())
    chosen.push('otlp');
  if (env.OTEL_EXPORTER_ZIPKIN_ENDPOINT?.trim()) chosen.push('zipkin');
  return chosen.length > 0 ? chosen.join(',') : 'none';
}

/** `dist/apps/<service>/src/main.js` → `<service>`: the name when the launcher did not set OTEL_SERVICE_NAME. */
export function serviceNameFromScript(script: string | undefined): string | undefined {
  return script
    ? /(?:^|[/\\])apps[/\\]([\w-]+)[/\\](?:src[/\\])?main\.[cm]?js$/.exec(script)?.[1]
    : undefined;
}

/**
 * Starts the OpenTelemetry SDK once per process, configured by the standard `OTEL_*` variables, which
 * the SDK reads itself (the one exception to "only libs/config reads process.env"). Traces only: metrics
 * are prom-client's (`/metrics`), logs go through the logging lib. With no exporter, spans are still
 * created (logs, problem details and exemplars carry their trace ids) but go nowhere.
 */
export function startTelemetry(env: Env = process.env, script: string | undefined = process.argv[1]): void {
  if (started) return;
  started = true;
  const exporters = tracesExporterFor(env);
  const exporting = exporters.split(',').some((name) => name.trim() !== 'none' && name.trim() !== '');
  // The SDK reads the exporter list from the environment; an endpoint-derived list has to be put there.
  if (exporting) env.OTEL_TRACES_EXPORTER = exporters;
  const named =
    Boolean(env.OTEL_SERVICE_NAME?.trim()) ||
    /(?:^|,)\s*service\.name\s*=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? '');
  const sdk = new NodeSDK({
    instrumentations: labInstrumentations(),
    metricReaders: [],
    logRecordProcessors: [],
    ...(named ? {} : { serviceName: serviceNameFromScript(script) }),
    ...(exporting ? {} : { spanProcessors: [new NoopSpanProcessor()] }),
  });
  sdk.start();
  setTelemetryHandle({ shutdown: () => sdk.shutdown() });
  // A process that ends on its own (no signal) still sends what it buffered.
  process.once('beforeExit', () => void shutdownTelemetry());
}
