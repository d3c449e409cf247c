import { context, diag, TraceFlags } from '@opentelemetry/api';
import {
  BindOnceFuture,
  type ExportResult,
  ExportResultCode,
  globalErrorHandler,
  type InstrumentationScope,
  suppressTracing,
} from '@opentelemetry/core';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import {
  convertLegacyHttpOptions,
  createOtlpHttpExportDelegate,
} from '@opentelemetry/otlp-exporter-base/node-http';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace';
import {
  decodeTraceResponse,
  type EncodedSpanGroups,
  encodeSpan,
  encodeTraceRequest,
  ProtobufBytes,
} from './otlp-span-encoding.js';

/** A buffer that grew beyond this in a burst is not kept for the next batch. */
const KEPT_BYTES = 1024 * 1024;

/**
 * Ended spans, each encoded as its OTLP protobuf `Span` when it ended, grouped by resource and scope.
 * Used again once exported (`clear`): its buffers outlive a scavenge or two while the batch fills,
 * and a new set per batch would be freed only by the major GC that collects the batch.
 */
export class EncodedSpans {
  count = 0;
  readonly groups: EncodedSpanGroups = new Map();
  private requestBytes: ProtobufBytes | undefined;

  add(span: ReadableSpan): void {
    let scopes = this.groups.get(span.resource);
    if (!scopes) {
      scopes = new Map<InstrumentationScope, ProtobufBytes>();
      this.groups.set(span.resource, scopes);
    }
    let out = scopes.get(span.instrumentationScope);
    if (!out) {
      out = new ProtobufBytes();
      scopes.set(span.instrumentationScope, out);
    }
    const start = out.pos;
    try {
      encodeSpan(out, span);
    } catch (error) {
      // A span that cannot be encoded (e.g. a name that is not a string) is left out whole: the
      // batch's other spans must still make a request a collector can read.
      out.pos = start;
      throw error;
    }
    this.count++;
  }

  /** The `ExportTraceServiceRequest` of these spans (valid until `clear`). */
  request(): Uint8Array {
    this.requestBytes ??= new ProtobufBytes();
    return encodeTraceRequest(this.groups, this.requestBytes);
  }

  /** Empties the batch for reuse, keeping its buffers unless a burst made them large. */
  clear(): void {
    this.count = 0;
    for (const scopes of this.groups.values()) {
      for (const [scope, spans] of scopes) {
        if (spans.capacity > KEPT_BYTES) scopes.set(scope, new ProtobufBytes());
        else spans.clear();
      }
    }
    if (this.requestBytes && this.requestBytes.capacity > KEPT_BYTES) this.requestBytes = undefined;
    this.requestBytes?.clear();
  }

  /** Resources whose asynchronously detected attributes have not all arrived yet. */
  pendingResources(): Resource[] {
    return [...this.groups.keys()].filter(
      (resource) => resource.asyncAttributesPending && resource.waitForAsyncAttributes,
    );
  }
}

/** What exports a batch of encoded spans (the OTLP http/protobuf transport). */
export interface EncodedSpanExporter {
  export(spans: EncodedSpans, done: (result: ExportResult) => void): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * The OTLP http/protobuf trace exporter of `@opentelemetry/exporter-trace-otlp-proto` (the same
 * transport, retries, `OTEL_EXPORTER_OTLP_*` variables, headers and compression), sending spans that
 * were encoded when they ended.
 */
export function otlpProtobufSpanExporter(): EncodedSpanExporter {
  return new OTLPExporterBase<EncodedSpans>(
    createOtlpHttpExportDelegate(
      convertLegacyHttpOptions({}, 'TRACES', 'v1/traces', { 'Content-Type': 'application/x-protobuf' }),
      {
        serializeRequest: (spans: EncodedSpans) => spans.request(),
        deserializeResponse: decodeTraceResponse,
      },
      'otlp_http_span_exporter',
      { name: 'span', countItems: (spans: EncodedSpans) => spans.count },
      undefined,
    ),
  );
}

export interface EncodingSpanProcessorOptions {
  exporter: EncodedSpanExporter;
  /** Spans held at most, encoded and waiting; more are dropped (default 2048, `OTEL_BSP_MAX_QUEUE_SIZE`). */
  maxQueueSize?: number;
  /** Spans per export (default 512, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`). */
  maxExportBatchSize?: number;
  /** How long the first span of a batch waits for others (default 5000 ms, `OTEL_BSP_SCHEDULE_DELAY`). */
  scheduledDelayMillis?: number;
  /** Default 30000 ms (`OTEL_BSP_EXPORT_TIMEOUT`). */
  exportTimeoutMillis?: number;
}

/**
 * The SDK's `BatchSpanProcessor`, except that a span is encoded to its OTLP protobuf bytes when it
 * ends instead of being kept until its batch is exported. At 100 orders/s a service's batch of 512
 * filled in about a second, long enough for every span (its attributes, events, the MongoDB spans'
 * `db.query.text`) to survive two scavenges and be promoted, so the old generation grew with spans
 * and was collected in major GCs of 16–44 ms; the bytes of a batch live outside the V8 heap. Batching,
 * limits and their `OTEL_BSP_*` defaults, dropping beyond the queue, one export at a time and flushing
 * on shutdown are the SDK processor's.
 */
export class EncodingSpanProcessor implements SpanProcessor {
  private readonly exporter: EncodedSpanExporter;
  private readonly maxQueueSize: number;
  private readonly maxExportBatchSize: number;
  private readonly scheduledDelayMillis: number;
  private readonly exportTimeoutMillis: number;
  private readonly shutdownOnce: BindOnceFuture<void>;
  /** Full batches waiting, then the batch being filled (never empty). */
  private readonly batches: EncodedSpans[] = [new EncodedSpans()];
  private waiting = 0;
  private dropped = 0;
  private exporting = false;
  private timer: NodeJS.Timeout | undefined;
  /** Exported batches, emptied, for the next ones. */
  private readonly spare: EncodedSpans[] = [];

  constructor(options: EncodingSpanProcessorOptions) {
    this.exporter = options.exporter;
    this.maxQueueSize = options.maxQueueSize ?? 2048;
    this.maxExportBatchSize = options.maxExportBatchSize ?? 512;
    this.scheduledDelayMillis = options.scheduledDelayMillis ?? 5000;
    this.exportTimeoutMillis = options.exportTimeoutMillis ?? 30_000;
    if (this.maxExportBatchSize > this.maxQueueSize) {
      diag.warn(
        'BatchSpanProcessor: maxExportBatchSize must be smaller or equal to maxQueueSize, setting maxExportBatchSize to match maxQueueSize',
      );
      this.maxExportBatchSize = this.maxQueueSize;
    }
    this.shutdownOnce = new BindOnceFuture(this.onShutdown, this);
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if (this.shutdownOnce.isCalled) return;
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    if (this.waiting >= this.maxQueueSize) {
      if (this.dropped === 0) diag.debug('maxQueueSize reached, dropping spans');
      this.dropped++;
      return;
    }
    if (this.dropped > 0) {
      diag.warn(`Dropped ${this.dropped} spans because maxQueueSize reached`);
      this.dropped = 0;
    }
    let filling = this.batches[this.batches.length - 1];
    if (filling.count >= this.maxExportBatchSize) {
      filling = this.spare.pop() ?? new EncodedSpans();
      this.batches.push(filling);
    }
    try {
      filling.add(span);
    } catch (error) {
      // As the SDK's processor: nothing thrown into the code that ended the span.
      globalErrorHandler(error instanceof Error ? error : String(error));
      return;
    }
    this.waiting++;
    this.maybeStartTimer();
  }

  forceFlush(): Promise<void> {
    if (this.shutdownOnce.isCalled) return this.shutdownOnce.promise;
    return this.flushAll();
  }

  shutdown(): Promise<void> {
    return this.shutdownOnce.call();
  }

  private async onShutdown(): Promise<void> {
    await this.flushAll();
    await this.exporter.shutdown();
  }

  private async flushAll(): Promise<void> {
    const exports: Promise<void>[] = [];
    for (let i = this.batches.length; i > 0; i--) exports.push(this.exportOneBatch());
    await Promise.all(exports);
  }

  /** Takes the oldest batch and exports it; resolves when the exporter has answered. */
  private exportOneBatch(): Promise<void> {
    this.clearTimer();
    const spans = this.batches.shift();
    if (this.batches.length === 0) this.batches.push(this.spare.pop() ?? new EncodedSpans());
    if (!spans || spans.count === 0) return Promise.resolve();
    this.waiting -= spans.count;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('Timeout')), this.exportTimeoutMillis);
      context.with(suppressTracing(context.active()), () => {
        const send = (): void =>
          this.exporter.export(spans, (result) => {
            clearTimeout(timer);
            // The exporter is done with the request's bytes (retries included): the batch can be refilled.
            if (this.spare.length < 2) {
              spans.clear();
              this.spare.push(spans);
            }
            if (result.code === ExportResultCode.SUCCESS) resolve();
            else reject(result.error ?? new Error('BatchSpanProcessor: span export failed'));
          });
        const pending = spans.pendingResources();
        if (pending.length === 0) send();
        else
          Promise.all(pending.map((resource) => resource.waitForAsyncAttributes?.())).then(
            send,
            (error: Error) => {
              globalErrorHandler(error);
              reject(error);
            },
          );
      });
    });
  }

  private maybeStartTimer(): void {
    if (this.exporting) return;
    const flush = (): void => {
      this.exporting = true;
      this.exportOneBatch()
        .finally(() => {
          this.exporting = false;
          if (this.waiting > 0) {
            this.clearTimer();
            this.maybeStartTimer();
          }
        })
        .catch((error: Error) => {
          this.exporting = false;
          globalErrorHandler(error);
        });
    };
    if (this.batches[0].count >= this.maxExportBatchSize) return flush();
    if (this.timer !== undefined) return;
    this.timer = setTimeout(flush, this.scheduledDelayMillis);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
