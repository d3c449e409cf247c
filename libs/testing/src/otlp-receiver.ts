import { createServer, type IncomingMessage, type Server } from 'node:http';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';

export type ReceivedSpanKind = 'UNSPECIFIED' | 'INTERNAL' | 'SERVER' | 'CLIENT' | 'PRODUCER' | 'CONSUMER';
export type ReceivedStatusCode = 'UNSET' | 'OK' | 'ERROR';

/** A span as a tracing backend received it, in one shape whatever the protocol (OTLP or Zipkin). */
export interface ReceivedSpan {
  /** Lower-case hex, 32 characters. */
  readonly traceId: string;
  /** Lower-case hex, 16 characters. */
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: ReceivedSpanKind;
  /** `service.name` of the resource (OTLP) or `localEndpoint.serviceName` (Zipkin). */
  readonly serviceName: string;
  /** OTLP keeps value types; Zipkin tags are always strings (its protocol has no other type). */
  readonly attributes: Record<string, unknown>;
  readonly status: { readonly code: ReceivedStatusCode; readonly message?: string };
  readonly events: readonly { readonly name: string; readonly attributes: Record<string, unknown> }[];
}

/** What both test receivers offer: spans as they arrive, and a way to wait for some. */
export interface SpanReceiver {
  /** Base URL: for OTLP the `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` is appended by exporters). */
  readonly url: string;
  /** Every span received since start, in arrival order. */
  readonly spans: ReceivedSpan[];
  /** Content type of every export request accepted, in arrival order. */
  readonly contentTypes: string[];
  /** Resolves with `spans` once `predicate(spans)` holds; rejects after `timeoutMs`. */
  waitFor(
    predicate: (spans: readonly ReceivedSpan[]) => boolean,
    timeoutMs?: number,
  ): Promise<ReceivedSpan[]>;
  stop(): Promise<void>;
}

export type OtlpReceiver = SpanReceiver;

/** Reads one request body (gzip-decoded when the exporter compressed it). */
async function readBody(request: IncomingMessage, limitBytes = 16 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) throw new Error('body too large');
    chunks.push(chunk as Buffer);
  }
  const body = Buffer.concat(chunks);
  return request.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
}

/**
 * Starts an HTTP server on 127.0.0.1 that calls `accept` for each `POST <path>` and keeps the spans it
 * returns; shared by the OTLP and Zipkin receivers. `accept` throwing answers 400.
 */
export async function startSpanServer(
  path: string,
  accept: (
    contentType: string,
    body: Buffer,
  ) => { spans: ReceivedSpan[]; status: number; type: string; answer: string | Buffer },
  name: string,
): Promise<SpanReceiver> {
  const spans: ReceivedSpan[] = [];
  const contentTypes: string[] = [];
  const listeners = new Set<() => void>();
  const server: Server = createServer((request, response) => {
    if (request.method !== 'POST' || request.url?.split('?')[0] !== path) {
      response.writeHead(404).end();
      return;
    }
    const contentType = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    readBody(request)
      .then((body) => {
        const result = accept(contentType, body);
        spans.push(...result.spans);
        contentTypes.push(contentType);
        response.writeHead(result.status, { 'content-type': result.type }).end(result.answer);
        for (const listener of listeners) listener();
      })
      .catch((error: unknown) => {
        response
          .writeHead(400, { 'content-type': 'text/plain' })
          .end(error instanceof Error ? error.message : String(error));
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    contentTypes,
    waitFor(predicate, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate(spans)) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(spans);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(
            new Error(
              `${name}: condition not met within ${timeoutMs} ms (${spans.length} spans: ${describe(spans)})`,
            ),
          );
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    stop() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function describe(spans: readonly ReceivedSpan[]): string {
  return spans
    .slice(-30)
    .map((s) => `${s.serviceName}:${s.kind}:${s.name}`)
    .join(', ');
}

// The part of opentelemetry-proto's trace and common messages a receiver reads, as protobufjs JSON
// descriptors (field names camelCase, as OTLP/JSON spells them). Enums are read as their int32 values.
const repeated = (type: string, id: number) => ({ rule: 'repeated', type, id });
const TRACE_PROTO = {
  nested: {
    ExportTraceServiceRequest: { fields: { resourceSpans: repeated('ResourceSpans', 1) } },
    ResourceSpans: {
      fields: {
        resource: { type: 'Resource', id: 1 },
        scopeSpans: repeated('ScopeSpans', 2),
        schemaUrl: { type: 'string', id: 3 },
      },
    },
    Resource: {
      fields: { attributes: repeated('KeyValue', 1), droppedAttributesCount: { type: 'uint32', id: 2 } },
    },
    ScopeSpans: {
      fields: {
        scope: { type: 'InstrumentationScope', id: 1 },
        spans: repeated('Span', 2),
        schemaUrl: { type: 'string', id: 3 },
      },
    },
    InstrumentationScope: {
      fields: {
        name: { type: 'string', id: 1 },
        version: { type: 'string', id: 2 },
        attributes: repeated('KeyValue', 3),
        droppedAttributesCount: { type: 'uint32', id: 4 },
      },
    },
    Span: {
      fields: {
        traceId: { type: 'bytes', id: 1 },
        spanId: { type: 'bytes', id: 2 },
        traceState: { type: 'string', id: 3 },
        parentSpanId: { type: 'bytes', id: 4 },
        name: { type: 'string', id: 5 },
        kind: { type: 'int32', id: 6 },
        startTimeUnixNano: { type: 'fixed64', id: 7 },
        endTimeUnixNano: { type: 'fixed64', id: 8 },
        attributes: repeated('KeyValue', 9),
        droppedAttributesCount: { type: 'uint32', id: 10 },
        events: repeated('Event', 11),
        droppedEventsCount: { type: 'uint32', id: 12 },
        droppedLinksCount: { type: 'uint32', id: 14 },
        status: { type: 'Status', id: 15 },
        flags: { type: 'fixed32', id: 16 },
      },
    },
    Event: {
      fields: {
        timeUnixNano: { type: 'fixed64', id: 1 },
        name: { type: 'string', id: 2 },
        attributes: repeated('KeyValue', 3),
        droppedAttributesCount: { type: 'uint32', id: 4 },
      },
    },
    Status: { fields: { message: { type: 'string', id: 2 }, code: { type: 'int32', id: 3 } } },
    KeyValue: { fields: { key: { type: 'string', id: 1 }, value: { type: 'AnyValue', id: 2 } } },
    AnyValue: {
      oneofs: {
        value: {
          oneof: [
            'stringValue',
            'boolValue',
            'intValue',
            'doubleValue',
            'arrayValue',
            'kvlistValue',
            'bytesValue',
          ],
        },
      },
      fields: {
        stringValue: { type: 'string', id: 1 },
        boolValue: { type: 'bool', id: 2 },
        intValue: { type: 'int64', id: 3 },
        doubleValue: { type: 'double', id: 4 },
        arrayValue: { type: 'ArrayValue', id: 5 },
        kvlistValue: { type: 'KeyValueList', id: 6 },
        bytesValue: { type: 'bytes', id: 7 },
      },
    },
    ArrayValue: { fields: { values: repeated('AnyValue', 1) } },
    KeyValueList: { fields: { values: repeated('KeyValue', 1) } },
  },
};
const exportRequest = protobuf.Root.fromJSON(TRACE_PROTO).lookupType('ExportTraceServiceRequest');

/** OTLP as objects, the same for both encodings once decoded (ids as the encoding left them). */
interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
  bytesValue?: string;
}
interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}
interface OtlpSpan {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  kind?: number;
  attributes?: OtlpKeyValue[];
  events?: { name?: string; attributes?: OtlpKeyValue[] }[];
  status?: { code?: number; message?: string };
}
interface OtlpRequest {
  resourceSpans?: { resource?: { attributes?: OtlpKeyValue[] }; scopeSpans?: { spans?: OtlpSpan[] }[] }[];
}

const KINDS: readonly ReceivedSpanKind[] = [
  'UNSPECIFIED',
  'INTERNAL',
  'SERVER',
  'CLIENT',
  'PRODUCER',
  'CONSUMER',
];
const STATUS_CODES: readonly ReceivedStatusCode[] = ['UNSET', 'OK', 'ERROR'];

function valueOf(value: OtlpAnyValue | undefined): unknown {
  if (!value) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(valueOf);
  if (value.kvlistValue) return attributesOf(value.kvlistValue.values);
  return value.bytesValue;
}

function attributesOf(list: OtlpKeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map(({ key, value }) => [key, valueOf(value)]));
}

/** OTLP/JSON carries ids as hex; protobuf as bytes, which protobufjs gives as base64. */
function normalise(request: OtlpRequest, id: (value: string | undefined) => string): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const resourceSpans of request.resourceSpans ?? []) {
    const serviceName = String(attributesOf(resourceSpans.resource?.attributes)['service.name'] ?? '');
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        const parentSpanId = id(span.parentSpanId);
        spans.push({
          traceId: id(span.traceId),
          spanId: id(span.spanId),
          ...(parentSpanId && !/^0+$/.test(parentSpanId) ? { parentSpanId } : {}),
          name: span.name ?? '',
          kind: KINDS[span.kind ?? 0] ?? 'UNSPECIFIED',
          serviceName,
          attributes: attributesOf(span.attributes),
          status: {
            code: STATUS_CODES[span.status?.code ?? 0] ?? 'UNSET',
            ...(span.status?.message ? { message: span.status.message } : {}),
          },
          events: (span.events ?? []).map((event) => ({
            name: event.name ?? '',
            attributes: attributesOf(event.attributes),
          })),
        });
      }
    }
  }
  return spans;
}

/** Decodes an OTLP/HTTP traces export body, `application/x-protobuf` or `application/json`. */
export function decodeOtlpTraces(contentType: string, body: Buffer): ReceivedSpan[] {
  if (contentType === 'application/json') {
    return normalise(JSON.parse(body.toString('utf8')) as OtlpRequest, (value) =>
      (value ?? '').toLowerCase(),
    );
  }
  if (contentType === 'application/x-protobuf') {
    const decoded = exportRequest.toObject(exportRequest.decode(body), {
      longs: String,
      bytes: String,
      defaults: false,
    });
    return normalise(decoded as OtlpRequest, (value) => Buffer.from(value ?? '', 'base64').toString('hex'));
  }
  throw new Error(`unsupported content type ${contentType || '(none)'}`);
}

/**
 * Stands in for an OTLP/HTTP traces endpoint (a collector, Jaeger) on 127.0.0.1: `POST /v1/traces` in
 * `application/x-protobuf` or `application/json`, gzip or not, answered with an empty
 * ExportTraceServiceResponse in the same encoding. Not supported: gRPC, metrics and logs, partial success.
 */
export function startOtlpReceiver(): Promise<OtlpReceiver> {
  return startSpanServer(
    '/v1/traces',
    (contentType, body) => {
      const spans = decodeOtlpTraces(contentType, body);
      return contentType === 'application/json'
        ? { spans, status: 200, type: 'application/json', answer: '{}' }
        : { spans, status: 200, type: 'application/x-protobuf', answer: Buffer.alloc(0) };
    },
    'OTLP receiver',
  );
}
