import { Inject, Injectable, Optional } from '@nestjs/common';
import { Counter, Gauge, Histogram, type Registry, register } from 'prom-client';
import { DURATION_BUCKETS } from './prometheus.js';

/** Injection token of another registry than prom-client's default one (see {@link Metrics}). */
export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');

/** Label sets a metric has from the start, at 0: every combination of the values given per label. */
export type KnownLabels<L extends string> = { readonly [K in L]?: readonly string[] };

export interface MetricSpec<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly L[];
  /**
   * The label values known up front (each outcome, each upstream of the configuration): every
   * combination exists at 0 from the start, so a dashboard shows 0 rather than "No data" on a quiet
   * lab and `increase()` counts the first event too.
   */
  readonly known?: KnownLabels<L>;
}

export interface GaugeSpec<L extends string> extends MetricSpec<L> {
  /** Sets the gauge's values at each scrape (nothing on the request path). */
  readonly collect?: (gauge: Gauge<L>) => void;
}

/**
 * The one way the lab makes a metric (the role of immich's `TelemetryRepository` over nestjs-otel's
 * `MetricService`): an injected provider whose counters, gauges and duration histograms live on
 * prom-client's default registry, the one `GET /metrics` serves (prom-client, not the OpenTelemetry
 * Prometheus exporter, because it carries exemplars). Asking twice for a name returns the same metric,
 * so several applications in one process (tests) share one series set.
 */
@Injectable()
export class Metrics {
  /**
   * `registry`: where the metrics live; prom-client's default registry (what `GET /metrics` serves)
   * unless a process outside Nest serves its own (the alert-webhook).
   */
  constructor(@Optional() @Inject(METRICS_REGISTRY) private readonly registry: Registry = register) {}

  counter<L extends string = never>(spec: MetricSpec<L>): Counter<L> {
    const counter =
      this.existing<Counter<L>>(spec.name) ??
      new Counter<L>({ ...options(spec), registers: [this.registry] });
    for (const labels of combinations(spec.known)) counter.inc(labels, 0);
    return counter;
  }

  gauge<L extends string = never>(spec: GaugeSpec<L>): Gauge<L> {
    const { collect } = spec;
    const gauge =
      this.existing<Gauge<L>>(spec.name) ??
      new Gauge<L>({
        ...options(spec),
        registers: [this.registry],
        ...(collect && {
          collect(this: Gauge<L>) {
            collect(this);
          },
        }),
      });
    for (const labels of combinations(spec.known)) if (!collect) gauge.inc(labels, 0);
    return gauge;
  }

  /**
   * A duration histogram (seconds, OpenTelemetry's buckets) with exemplars. prom-client refuses
   * exemplars on a registry whose format is Prometheus text, which cannot carry them; the default
   * registry stays in that format for everyone else's metrics, so the histogram is made unregistered and
   * added after. Text scrapes leave the exemplars out; OpenMetrics ones include them.
   */
  durationHistogram<L extends string>(
    spec: MetricSpec<L> & { readonly buckets?: readonly number[] },
  ): Histogram<L> {
    const found = this.existing<Histogram<L>>(spec.name);
    if (found) return found;
    const histogram = new Histogram<L>({
      ...options(spec),
      buckets: [...(spec.buckets ?? DURATION_BUCKETS)],
      enableExemplars: true,
      registers: [],
    });
    this.registry.registerMetric(histogram);
    return histogram;
  }

  private existing<M>(name: string): M | undefined {
    return this.registry.getSingleMetric(name) as M | undefined;
  }
}

function options<L extends string>(
  spec: MetricSpec<L>,
): { name: string; help: string; labelNames: readonly L[] } {
  return { name: spec.name, help: spec.help, labelNames: spec.labelNames ?? [] };
}

/** Every combination of the known values (none when a label listed in `known` has no value). */
export function combinations<L extends string>(
  known: KnownLabels<L> | undefined,
): Partial<Record<L, string>>[] {
  if (!known) return [];
  let sets: Partial<Record<L, string>>[] = [{}];
  for (const label of Object.keys(known) as L[]) {
    const values = known[label] ?? [];
    sets = sets.flatMap((set) => values.map((value) => ({ ...set, [label]: value })));
  }
  return sets;
}
