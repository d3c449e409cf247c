import { describe, expect, it } from 'vitest';
import { serviceNameFromScript, tracesExporterFor } from './sdk.js';

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
