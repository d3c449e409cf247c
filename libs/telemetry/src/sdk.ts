import {
  context,
  DiagConsoleLogger,
  diag,
  propagation,
  type TextMapPropagator,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  CompositePropagator,
  diagLogLevelFromString,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import {
  defaultResource,
  detectResources,
  envDetector,
  hostDetector,
  osDetector,
  processDetector,
  type Resource,
  type ResourceDetector,
  resourceFromAttributes,
  serviceInstanceIdDetector,
} from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NoopSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanLimits,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
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

const list = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');

function numberFrom(env: Readonly<Env>, name: string): number | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  const value = Number(raw);
  if (Number.isNaN(value)) {
    diag.warn(`Unknown value ${JSON.stringify(raw)} for ${name}, expected a number, using defaults`);
    return undefined;
  }
  return value;
}

/** A positive number, else the default (as the OpenTelemetry Node SDK reads `OTEL_BSP_*`). */
function positiveNumberFrom(env: Readonly<Env>, name: string): number | undefined {
  const value = numberFrom(env, name);
  if (value !== undefined && value <= 0) {
    diag.warn(`${name} (${value}) is invalid, expected number greater than 0, using default.`);
    return undefined;
  }
  return value;
}

/** `OTEL_TRACES_SAMPLER` (`OTEL_TRACES_SAMPLER_ARG`); undefined: the SDK's parent-based always-on. */
export function samplerFromEnv(env: Readonly<Env>): Sampler | undefined {
  const name = env.OTEL_TRACES_SAMPLER?.trim();
  if (!name) return undefined;
  const ratio = (): number => {
    const value = numberFrom(env, 'OTEL_TRACES_SAMPLER_ARG');
    if (value === undefined || value < 0 || value > 1) {
      diag.error(`OTEL_TRACES_SAMPLER_ARG must be a number in [0..1], defaulting to 1.`);
      return 1;
    }
    return value;
  };
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio());
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio()) });
    default:
      diag.error(`unknown OTEL_TRACES_SAMPLER value "${name}", using default`);
      return undefined;
  }
}

/** The `OTEL_*_LIMIT` variables of spans (unset: the SDK's defaults). */
export function spanLimitsFromEnv(env: Readonly<Env>): SpanLimits {
  return {
    attributeCountLimit:
      numberFrom(env, 'OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT') ?? numberFrom(env, 'OTEL_ATTRIBUTE_COUNT_LIMIT'),
    attributeValueLengthLimit:
      numberFrom(env, 'OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT') ??
      numberFrom(env, 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT'),
    eventCountLimit: numberFrom(env, 'OTEL_SPAN_EVENT_COUNT_LIMIT'),
    linkCountLimit: numberFrom(env, 'OTEL_SPAN_LINK_COUNT_LIMIT'),
    attributePerEventCountLimit:
      numberFrom(env, 'OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT') ??
      numberFrom(env, 'OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT'),
    attributePerLinkCountLimit:
      numberFrom(env, 'OTEL_LINK_ATTRIBUTE_COUNT_LIMIT') ??
      numberFrom(env, 'OTEL_SPAN_ATTRIBUTE_PER_LINK_COUNT_LIMIT'),
  };
}

/**
 * `OTEL_PROPAGATORS`: W3C trace context and baggage unless told otherwise; `null` for `none`. B3 is
 * loaded only when asked for.
 */
export async function propagatorFromEnv(env: Readonly<Env>): Promise<TextMapPropagator | null> {
  const names = [...new Set(list(env.OTEL_PROPAGATORS))];
  if (names.length === 0) {
    return new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
    });
  }
  if (names.includes('none')) return null;
  const propagators: TextMapPropagator[] = [];
  for (const name of names) {
    if (name === 'tracecontext') propagators.push(new W3CTraceContextPropagator());
    else if (name === 'baggage') propagators.push(new W3CBaggagePropagator());
    else if (name === 'b3' || name === 'b3multi') {
      const { B3InjectEncoding, B3Propagator } = await import('@opentelemetry/propagator-b3');
      propagators.push(
        new B3Propagator(name === 'b3multi' ? { injectEncoding: B3InjectEncoding.MULTI_HEADER } : {}),
      );
    } else diag.warn(`Propagator "${name}" requested through environment variable is unavailable.`);
  }
  if (propagators.length === 0) return null;
  return propagators.length === 1 ? propagators[0] : new CompositePropagator({ propagators });
}

const RESOURCE_DETECTORS: Record<string, ResourceDetector> = {
  host: hostDetector,
  os: osDetector,
  serviceinstance: serviceInstanceIdDetector,
  process: processDetector,
  env: envDetector,
};

/**
 * The resource of every span: the SDK's defaults (`telemetry.sdk.*`), what the Node SDK's detectors
 * find by default (service instance id, process, host, OS, and `OTEL_RESOURCE_ATTRIBUTES` /
 * `OTEL_SERVICE_NAME`), or those `OTEL_NODE_RESOURCE_DETECTORS` lists, then `serviceName` when given.
 */
export function resourceFromEnv(env: Readonly<Env>, serviceName: string | undefined): Resource {
  const named = list(env.OTEL_NODE_RESOURCE_DETECTORS);
  let detectors: ResourceDetector[];
  if (named.length === 0 || named.includes('all')) detectors = Object.values(RESOURCE_DETECTORS);
  else if (named.includes('none')) detectors = [];
  else {
    detectors = named.flatMap((name) => {
      const detector = RESOURCE_DETECTORS[name];
      if (!detector)
        diag.warn(`Invalid resource detector "${name}" specified in OTEL_NODE_RESOURCE_DETECTORS`);
      return detector ? [detector] : [];
    });
  }
  const resource = defaultResource().merge(detectResources({ detectors }));
  return serviceName === undefined
    ? resource
    : resource.merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }));
}

/**
 * One processor per exporter of the list: OTLP (`http/protobuf`, `http/json` or `grpc`, by
 * `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL`), Zipkin, console. Only the
 * exporters listed are loaded; each reads its own `OTEL_EXPORTER_*` variables. Batched by `OTEL_BSP_*`;
 * OTLP http/protobuf through `EncodingSpanProcessor`, which encodes each span when it ends.
 */
export async function spanProcessorsFor(exporters: string, env: Readonly<Env>): Promise<SpanProcessor[]> {
  let names = [...new Set(list(exporters))].filter((name) => name !== 'null');
  if (names.length > 1 && names.includes('none')) {
    diag.warn(
      'OTEL_TRACES_EXPORTER contains "none" along with other exporters. Using default otlp exporter.',
    );
    names = ['otlp'];
  }
  const batching = {
    maxQueueSize: positiveNumberFrom(env, 'OTEL_BSP_MAX_QUEUE_SIZE'),
    scheduledDelayMillis: positiveNumberFrom(env, 'OTEL_BSP_SCHEDULE_DELAY'),
    exportTimeoutMillis: positiveNumberFrom(env, 'OTEL_BSP_EXPORT_TIMEOUT'),
    maxExportBatchSize: positiveNumberFrom(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE'),
  };
  const batched = (exporter: SpanExporter) => new BatchSpanProcessor({ exporter, ...batching });
  const processors: SpanProcessor[] = [];
  for (const name of names) {
    if (name === 'none') continue;
    if (name === 'otlp') {
      const exporter = await otlpExporter(env);
      if (exporter) processors.push(batched(exporter));
      else {
        // http/protobuf: each span encoded when it ends, not kept as an object until its batch goes.
        const { EncodingSpanProcessor, otlpProtobufSpanExporter } =
          await import('./encoding-span-processor.js');
        processors.push(new EncodingSpanProcessor({ exporter: otlpProtobufSpanExporter(), ...batching }));
      }
    } else if (name === 'zipkin') {
      const { ZipkinExporter } = await import('@opentelemetry/exporter-zipkin');
      processors.push(batched(new ZipkinExporter()));
    } else if (name === 'console')
      processors.push(new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() }));
    else diag.warn(`Unrecognized OTEL_TRACES_EXPORTER value: ${name}.`);
  }
  return processors;
}

/** The OTLP exporter of the gRPC or http/json protocol; undefined for http/protobuf (the default). */
async function otlpExporter(env: Readonly<Env>): Promise<SpanExporter | undefined> {
  const protocol =
    env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL?.trim() ||
    env.OTEL_EXPORTER_OTLP_PROTOCOL?.trim() ||
    'http/protobuf';
  if (protocol === 'grpc')
    return new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter();
  if (protocol === 'http/json')
    return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
  if (protocol !== 'http/protobuf')
    diag.warn(`Unsupported OTLP traces protocol: ${protocol}. Using http/protobuf.`);
  return undefined;
}

/**
 * Starts tracing once per process, configured by the standard `OTEL_*` variables (the one exception to
 * "only libs/config reads process.env"): the instrumentations, the context manager, the propagators and a
 * tracer provider whose resource and processors the variables describe. What the OpenTelemetry Node SDK
 * (`NodeSDK`) does for traces, without loading every exporter, metric reader and log exporter it could be
 * configured with (about 13 MB of each service's memory): metrics are prom-client's (`/metrics`), logs go
 * through the logging lib. `OTEL_SDK_DISABLED=true`: nothing at all (no trace ids either). With no
 * exporter, spans are still created (logs, problem details and exemplars carry their trace ids) but go
 * nowhere.
 */
export async function startTelemetry(
  env: Env = process.env,
  script: string | undefined = process.argv[1],
): Promise<void> {
  if (started) return;
  started = true;
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return;
  const logLevel = env.OTEL_LOG_LEVEL?.trim();
  if (logLevel) diag.setLogger(new DiagConsoleLogger(), { logLevel: diagLogLevelFromString(logLevel) });
  const exporters = tracesExporterFor(env);
  // The exporters read their endpoints from the environment; an endpoint-derived list is put there too.
  if (exporters !== 'none') env.OTEL_TRACES_EXPORTER = exporters;
  const named =
    Boolean(env.OTEL_SERVICE_NAME?.trim()) ||
    /(?:^|,)\s*service\.name\s*=/.test(env.OTEL_RESOURCE_ATTRIBUTES ?? '');

  registerInstrumentations({ instrumentations: labInstrumentations() });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const propagator = await propagatorFromEnv(env);
  if (propagator) propagation.setGlobalPropagator(propagator);
  const processors = await spanProcessorsFor(exporters, env);
  const provider = new TracerProvider({
    resource: resourceFromEnv(env, named ? undefined : serviceNameFromScript(script)),
    sampler: samplerFromEnv(env),
    spanLimits: spanLimitsFromEnv(env),
    spanProcessors: processors.length > 0 ? processors : [new NoopSpanProcessor()],
  });
  trace.setGlobalTracerProvider(provider);
  setTelemetryHandle({ shutdown: () => provider.shutdown() });
  // A process that ends on its own (no signal) still sends what it buffered.
  process.once('beforeExit', () => void shutdownTelemetry());
}
