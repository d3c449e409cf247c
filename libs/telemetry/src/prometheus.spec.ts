import { describe, expect, it } from 'vitest';
import { prefersOpenMetrics } from './prometheus.js';

describe(prefersOpenMetrics.name, () => {
  it("answers OpenMetrics to Prometheus's own Accept header and to a plain request for it", () => {
    expect(
      prefersOpenMetrics(
        'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
      ),
    ).toBe(true);
    expect(prefersOpenMetrics('application/openmetrics-text; version=1.0.0')).toBe(true);
    expect(prefersOpenMetrics('application/openmetrics-text')).toBe(true);
  });

  it('answers Prometheus text otherwise: no header, browsers, curl, text preferred, OpenMetrics refused', () => {
    expect(prefersOpenMetrics(undefined)).toBe(false);
    expect(prefersOpenMetrics('*/*')).toBe(false);
    expect(prefersOpenMetrics('text/html,application/xhtml+xml,*/*;q=0.8')).toBe(false);
    expect(prefersOpenMetrics('text/plain;version=0.0.4,application/openmetrics-text;q=0.5')).toBe(false);
    expect(prefersOpenMetrics('application/openmetrics-text;q=0')).toBe(false);
    expect(prefersOpenMetrics('application/openmetrics-text;version=0.0.1')).toBe(false);
  });
});
