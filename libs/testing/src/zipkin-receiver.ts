import {
  type ReceivedSpan,
  type ReceivedSpanKind,
  type SpanReceiver,
  startSpanServer,
} from './otlp-receiver.js';

export type ZipkinReceiver = SpanReceiver;

/** A span in Zipkin's v2 JSON model (the fields a receiver reads). */
interface ZipkinSpan {
  traceId?: string;
  id?: string;
  parentId?: string;
  name?: string;
  kind?: string;
  localEndpoint?: { serviceName?: string };
  tags?: Record<string, string>;
  annotations?: { timestamp?: number; value?: string }[];
}

const KINDS = new Set<ReceivedSpanKind>(['SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER']);

/** Zipkin v2 JSON (`POST /api/v2/spans`) to the receivers' common shape; OpenTelemetry's status rides in tags. */
export function decodeZipkinSpans(body: Buffer): ReceivedSpan[] {
  const parsed: unknown = JSON.parse(body.toString('utf8'));
  if (!Array.isArray(parsed)) throw new Error('a Zipkin v2 body is a JSON array of spans');
  return (parsed as ZipkinSpan[]).map((span) => {
    const tags = span.tags ?? {};
    const status = tags['otel.status_code'];
    const kind = (span.kind ?? '').toUpperCase() as ReceivedSpanKind;
    return {
      traceId: (span.traceId ?? '').toLowerCase().padStart(32, '0'),
      spanId: (span.id ?? '').toLowerCase(),
      ...(span.parentId ? { parentSpanId: span.parentId.toLowerCase() } : {}),
      name: span.name ?? '',
      kind: KINDS.has(kind) ? kind : 'INTERNAL',
      serviceName: span.localEndpoint?.serviceName ?? '',
      attributes: { ...tags },
      status: {
        code: status === 'ERROR' ? 'ERROR' : status === 'OK' ? 'OK' : 'UNSET',
        ...(status === 'ERROR' && tags.error ? { message: tags.error } : {}),
      },
      events: (span.annotations ?? []).map((annotation) => ({
        name: annotation.value ?? '',
        attributes: {},
      })),
    };
  });
}

/**
 * Stands in for Zipkin's collector on 127.0.0.1: v2 JSON spans at `POST /api/v2/spans` (gzip or not),
 * answered 202 like Zipkin. Not supported: the protobuf (proto3) encoding and the v1 API.
 */
export function startZipkinReceiver(): Promise<ZipkinReceiver> {
  return startSpanServer(
    '/api/v2/spans',
    (contentType, body) => {
      if (contentType !== 'application/json' && contentType !== '')
        throw new Error(`unsupported content type ${contentType}`);
      return { spans: decodeZipkinSpans(body), status: 202, type: 'text/plain', answer: '' };
    },
    'Zipkin receiver',
  );
}
