import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import {
  AlwaysOffSampler,
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { EncodingSpanProcessor } from './encoding-span-processor.js';
import {
  propagatorFromEnv,
  resourceFromEnv,
  samplerFromEnv,
  serviceNameFromScript,
  spanProcessorsFor,
  tracesExporterFor,
} from './sdk.js';

describe(tracesExporterFor.name, () => {
  it('exports nothing when neither exporters nor endpoints are configured (not the SDK default of OTLP to localhost)', () => {
    expect(tracesExporterFor({})).toBe('none');
    expect(tracesExporterFor({ OTEL_TRACES_EXPORTER: ' ', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })).toBe(
      'none',
    );
  });

  it('keeps an explicit exporter list', () => {
    expect(tracesExporterFor({ OTEL_TRACES_EXPORTER: 'otlp,zipkin' })).toBe('otlp,zipkin');
    expect(
      tracesExporterFor({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318' }),
    ).toBe('none');
  });

  it('selects the exporters whose endpoint is set', () => {
    expect(tracesExporterFor({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318' })).toBe('otlp');
    expect(tracesExporterFor({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://jaeger:4318/v1/traces' })).toBe(
      'otlp',
    );
    expect(tracesExporterFor({ OTEL_EXPORTER_ZIPKIN_ENDPOINT: 'http://zipkin:9411/api/v2/spans' })).toBe(
      'zipkin',
    );
    expect(
      tracesExporterFor({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318',
        OTEL_EXPORTER_ZIPKIN_ENDPOINT: 'http://zipkin:9411/api/v2/spans',
      }),
    ).toBe('otlp,zipkin');
  });
});

describe(serviceNameFromScript.name, () => {
  it('names the service after the app whose main.js runs, when the launcher set no OTEL_SERVICE_NAME', () => {
    expect(serviceNameFromScript('/srv/lab/dist/apps/order/src/main.js')).toBe('order');
    expect(serviceNameFromScript('dist/apps/gateway/src/main.js')).toBe('gateway');
    expect(serviceNameFromScript('/srv/lab/scripts/start.mjs')).toBeUndefined();
    expect(serviceNameFromScript(undefined)).toBeUndefined();
  });
});

describe(spanProcessorsFor.name, () => {
  const exporterOf = (processor: SpanProcessor): unknown => Reflect.get(processor, '_exporter');

  it('loads the exporter of each name listed, OTLP in the configured protocol, batched', async () => {
    const [otlp, zipkin] = await spanProcessorsFor('otlp,zipkin', {
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    });
    expect(otlp).toBeInstanceOf(BatchSpanProcessor);
    expect(exporterOf(otlp)).toBeInstanceOf(OtlpJsonExporter);
    expect(exporterOf(zipkin)).toBeInstanceOf(ZipkinExporter);
    const [protobuf] = await spanProcessorsFor('otlp', {});
    expect(protobuf).toBeInstanceOf(EncodingSpanProcessor);
    const [console] = await spanProcessorsFor('console', {});
    expect(console).toBeInstanceOf(SimpleSpanProcessor);
  });

  it('reads the batch settings from OTEL_BSP_*, ignoring values that are not positive', async () => {
    const [processor] = await spanProcessorsFor('zipkin', {
      OTEL_BSP_SCHEDULE_DELAY: '200',
      OTEL_BSP_MAX_QUEUE_SIZE: '0',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '64',
    });
    expect(Reflect.get(processor, '_scheduledDelayMillis')).toBe(200);
    expect(Reflect.get(processor, '_maxQueueSize')).toBe(2048);
    expect(Reflect.get(processor, '_maxExportBatchSize')).toBe(64);
    const [encoding] = await spanProcessorsFor('otlp', {
      OTEL_BSP_SCHEDULE_DELAY: '200',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '-1',
    });
    expect(Reflect.get(encoding, 'scheduledDelayMillis')).toBe(200);
    expect(Reflect.get(encoding, 'maxExportBatchSize')).toBe(512);
  });

  it('makes nothing for none or unknown names', async () => {
    expect(await spanProcessorsFor('none', {})).toEqual([]);
    expect(await spanProcessorsFor('jaeger', {})).toEqual([]);
  });
});

describe(resourceFromEnv.name, () => {
  it("has the attributes the OpenTelemetry Node SDK's default detectors give, and the service name", async () => {
    const resource = resourceFromEnv({}, 'order');
    await resource.waitForAsyncAttributes?.();
    expect(resource.attributes['service.name']).toBe('order');
    expect(Object.keys(resource.attributes).sort()).toEqual(
      expect.arrayContaining([
        'host.arch',
        'host.name',
        'os.type',
        'process.pid',
        'process.runtime.name',
        'service.instance.id',
        'telemetry.sdk.language',
        'telemetry.sdk.name',
        'telemetry.sdk.version',
      ]),
    );
  });

  it('uses only the detectors OTEL_NODE_RESOURCE_DETECTORS lists', () => {
    const resource = resourceFromEnv({ OTEL_NODE_RESOURCE_DETECTORS: 'process' }, undefined);
    expect(resource.attributes['process.pid']).toBe(process.pid);
    expect(resource.attributes['host.name']).toBeUndefined();
    expect(resource.attributes['service.instance.id']).toBeUndefined();
  });
});

describe(propagatorFromEnv.name, () => {
  it('propagates W3C trace context and baggage by default, and what OTEL_PROPAGATORS lists otherwise', async () => {
    expect((await propagatorFromEnv({}))?.fields()).toEqual(['traceparent', 'tracestate', 'baggage']);
    expect((await propagatorFromEnv({ OTEL_PROPAGATORS: 'tracecontext' }))?.fields()).toEqual([
      'traceparent',
      'tracestate',
    ]);
    expect((await propagatorFromEnv({ OTEL_PROPAGATORS: 'b3multi' }))?.fields()).toContain('x-b3-traceid');
    expect(await propagatorFromEnv({ OTEL_PROPAGATORS: 'none' })).toBeNull();
  });
});

describe(samplerFromEnv.name, () => {
  it('reads OTEL_TRACES_SAMPLER and its ratio; unset leaves the default (parent-based, always on)', () => {
    expect(samplerFromEnv({})).toBeUndefined();
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'always_off' })).toBeInstanceOf(AlwaysOffSampler);
    expect(
      samplerFromEnv({
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.1',
      })?.toString(),
    ).toBe(
      'ParentBased{root=TraceIdRatioBased{0.1}, remoteParentSampled=AlwaysOnSampler, remoteParentNotSampled=AlwaysOffSampler, localParentSampled=AlwaysOnSampler, localParentNotSampled=AlwaysOffSampler}',
    );
  });
});
