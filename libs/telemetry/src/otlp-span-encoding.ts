import type { AttributeValue, Attributes, HrTime, Link, SpanContext } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';

const INITIAL_BYTES = 16 * 1024;
const MIN_64_BIT_INT = -(2 ** 63);
const MAX_64_BIT_INT = 2 ** 63;
const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;

/**
 * A growing protobuf byte buffer: the writing half of OTLP's protobuf encoding, with the same choices
 * as `@opentelemetry/otlp-transformer`'s serializer (which fields are written when zero, how numbers
 * and hex ids are encoded), so a request built here holds the bytes the SDK's exporter would send for
 * the same spans (byte for byte for a batch's first use; a reused batch keeps its resource and scope
 * groups in the order they first came, where the SDK's follows each batch's spans).
 */
export class ProtobufBytes {
  private buffer: Buffer;
  pos = 0;

  constructor(size = INITIAL_BYTES) {
    this.buffer = Buffer.allocUnsafe(size);
  }

  /** The bytes written so far (a view, valid until the next write). */
  view(): Uint8Array {
    return this.buffer.subarray(0, this.pos);
  }

  private ensure(more: number): void {
    const needed = this.pos + more;
    if (needed <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < needed) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buffer.copy(grown, 0, 0, this.pos);
    this.buffer = grown;
  }

  tag(field: number, wireType: number): void {
    this.varint((field << 3) | wireType);
  }

  varint(value: number): void {
    this.ensure(10);
    const buffer = this.buffer;
    if (value >= 0 && value <= 0xffffffff) {
      let v = value >>> 0;
      while (v > 127) {
        buffer[this.pos++] = (v & 127) | 128;
        v >>>= 7;
      }
      buffer[this.pos++] = v;
      return;
    }
    // 64-bit two's complement, as the SDK writes integers beyond 32 bits and negative ones.
    const abs = Math.abs(value);
    let low = abs >>> 0;
    let high = (abs / 4294967296) >>> 0;
    if (value < 0) {
      low = ~low >>> 0;
      high = ~high >>> 0;
      low = (low + 1) >>> 0;
      if (low === 0) high = (high + 1) >>> 0;
    }
    while (high > 0 || low > 127) {
      buffer[this.pos++] = (low & 127) | 128;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    buffer[this.pos++] = low & 127;
  }

  fixed32(value: number): void {
    this.ensure(4);
    this.buffer.writeUInt32LE(value >>> 0, this.pos);
    this.pos += 4;
  }

  fixed64(low: number, high: number): void {
    this.ensure(8);
    this.buffer.writeUInt32LE(low >>> 0, this.pos);
    this.buffer.writeUInt32LE(high >>> 0, this.pos + 4);
    this.pos += 8;
  }

  double(value: number): void {
    this.ensure(8);
    this.buffer.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  string(value: string): void {
    if (value.length < 128 && this.shortAscii(value)) return;
    const length = Buffer.byteLength(value, 'utf8');
    this.varint(length);
    this.ensure(length);
    this.pos += this.buffer.write(value, this.pos, length, 'utf8');
  }

  /** Writes a string of under 128 characters if all are ASCII (most names, keys and values), without a call into C++. */
  private shortAscii(value: string): boolean {
    const length = value.length;
    this.ensure(length + 1);
    const buffer = this.buffer;
    let at = this.pos + 1;
    for (let i = 0; i < length; i++) {
      const code = value.charCodeAt(i);
      if (code > 127) return false;
      buffer[at++] = code;
    }
    buffer[this.pos] = length;
    this.pos = at;
    return true;
  }

  bytes(value: Uint8Array): void {
    this.varint(value.length);
    this.ensure(value.length);
    this.buffer.set(value, this.pos);
    this.pos += value.length;
  }

  /** A span or trace id, given in hex, as bytes (the SDK's `hexToBinary`, without an array per id). */
  hexId(hex: string): void {
    const length = hex.length >>> 1;
    this.varint(length);
    this.ensure(length);
    for (let i = 0; i < length; i++) {
      this.buffer[this.pos++] = (hexDigit(hex.charCodeAt(2 * i)) << 4) | hexDigit(hex.charCodeAt(2 * i + 1));
    }
  }

  /** Starts a length-delimited field's content; `end` writes its length in front. */
  start(): number {
    this.ensure(1);
    return this.pos++;
  }

  end(start: number): void {
    const length = this.pos - start - 1;
    const size = varintSize(length);
    if (size > 1) {
      this.ensure(size - 1);
      this.buffer.copyWithin(start + size, start + 1, this.pos);
      this.pos += size - 1;
    }
    let at = start;
    let v = length;
    while (v > 127) {
      this.buffer[at++] = (v & 127) | 128;
      v >>>= 7;
    }
    this.buffer[at] = v;
  }

  /** Appends another buffer's bytes as they are. */
  append(other: ProtobufBytes): void {
    this.ensure(other.pos);
    other.buffer.copy(this.buffer, this.pos, 0, other.pos);
    this.pos += other.pos;
  }

  /** Bytes of memory held. */
  get capacity(): number {
    return this.buffer.length;
  }

  /** Forgets what was written, keeping the memory. */
  clear(): void {
    this.pos = 0;
  }
}

function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 102) return code - 87;
  return code - 55;
}

function varintSize(value: number): number {
  let size = 1;
  for (let v = value >>> 7; v > 0; v >>>= 7) size++;
  return size;
}

function hrTime(out: ProtobufBytes, time: HrTime): void {
  const seconds = time[0];
  const nanos = time[1];
  const fromLower16Bits = (seconds & 65535) * 1e9;
  const fromUpperBits = ((seconds / 65536) >>> 0) * 1e9;
  const withCarry = (fromLower16Bits >>> 0) + (((fromUpperBits & 65535) * 65536) >>> 0) + nanos;
  const high =
    (Math.floor(fromLower16Bits / 4294967296) +
      ((fromUpperBits / 65536) >>> 0) +
      Math.floor(withCarry / 4294967296)) >>>
    0;
  out.fixed64(withCarry >>> 0, high);
}

function anyValue(out: ProtobufBytes, value: unknown): void {
  if (typeof value === 'string') {
    out.tag(1, 2);
    out.string(value);
  } else if (typeof value === 'boolean') {
    out.tag(2, 0);
    out.varint(value ? 1 : 0);
  } else if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= MIN_64_BIT_INT && value < MAX_64_BIT_INT) {
      out.tag(3, 0);
      out.varint(value);
    } else {
      out.tag(4, 1);
      out.double(value);
    }
  } else if (value instanceof Uint8Array) {
    out.tag(7, 2);
    out.bytes(value);
  } else if (Array.isArray(value)) {
    out.tag(5, 2);
    const array = out.start();
    for (const item of value as unknown[]) {
      out.tag(1, 2);
      const element = out.start();
      anyValue(out, item);
      out.end(element);
    }
    out.end(array);
  } else if (typeof value === 'object' && value !== null) {
    out.tag(6, 2);
    const list = out.start();
    for (const key in value) {
      if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
      out.tag(1, 2);
      keyValue(out, key, (value as Record<string, unknown>)[key]);
    }
    out.end(list);
  }
}

function keyValue(out: ProtobufBytes, key: string, value: unknown): void {
  const pair = out.start();
  out.tag(1, 2);
  out.string(key);
  out.tag(2, 2);
  const any = out.start();
  anyValue(out, value);
  out.end(any);
  out.end(pair);
}

function attributes(out: ProtobufBytes, values: Attributes, field: number): void {
  for (const key in values) {
    if (!Object.prototype.hasOwnProperty.call(values, key)) continue;
    out.tag(field, 2);
    keyValue(out, key, values[key] satisfies AttributeValue | undefined);
  }
}

function spanFlags(context: SpanContext, isRemote: boolean | undefined): number {
  return (context.traceFlags & 0xff) | HAS_IS_REMOTE | (isRemote ? IS_REMOTE : 0);
}

function event(out: ProtobufBytes, timed: TimedEvent): void {
  const start = out.start();
  out.tag(1, 1);
  hrTime(out, timed.time);
  out.tag(2, 2);
  out.string(timed.name);
  if (timed.attributes) attributes(out, timed.attributes, 3);
  out.tag(4, 0);
  out.varint(timed.droppedAttributesCount || 0);
  out.end(start);
}

/** Fields 1–3 of a `Span` and of a `Span.Link` alike: trace id, span id, trace state. */
function ids(out: ProtobufBytes, context: SpanContext): void {
  out.tag(1, 2);
  out.hexId(context.traceId);
  out.tag(2, 2);
  out.hexId(context.spanId);
  const traceState = context.traceState?.serialize();
  if (traceState) {
    out.tag(3, 2);
    out.string(traceState);
  }
}

function link(out: ProtobufBytes, linked: Link): void {
  const start = out.start();
  const { context } = linked;
  ids(out, context);
  if (linked.attributes) attributes(out, linked.attributes, 4);
  out.tag(5, 0);
  out.varint(linked.droppedAttributesCount || 0);
  out.tag(6, 5);
  out.fixed32(spanFlags(context, context.isRemote));
  out.end(start);
}

/** Appends an ended span as a `Span` message in field 2 of a `ScopeSpans`. */
export function encodeSpan(out: ProtobufBytes, span: ReadableSpan): void {
  out.tag(2, 2);
  const start = out.start();
  const context = span.spanContext();
  ids(out, context);
  const parent = span.parentSpanContext;
  if (parent?.spanId) {
    out.tag(4, 2);
    out.hexId(parent.spanId);
  }
  out.tag(5, 2);
  out.string(span.name);
  const kind = span.kind == null ? 0 : span.kind + 1;
  if (kind !== 0) {
    out.tag(6, 0);
    out.varint(kind);
  }
  out.tag(7, 1);
  hrTime(out, span.startTime);
  out.tag(8, 1);
  hrTime(out, span.endTime);
  attributes(out, span.attributes, 9);
  out.tag(10, 0);
  out.varint(span.droppedAttributesCount);
  for (const timed of span.events) {
    out.tag(11, 2);
    event(out, timed);
  }
  out.tag(12, 0);
  out.varint(span.droppedEventsCount);
  for (const linked of span.links) {
    out.tag(13, 2);
    link(out, linked);
  }
  out.tag(14, 0);
  out.varint(span.droppedLinksCount);
  out.tag(15, 2);
  const status = out.start();
  if (span.status.message) {
    out.tag(2, 2);
    out.string(span.status.message);
  }
  out.tag(3, 0);
  out.varint(span.status.code);
  out.end(status);
  out.tag(16, 5);
  out.fixed32(spanFlags(context, parent?.isRemote));
  out.end(start);
}

/** The spans of one resource, each scope's already encoded (`encodeSpan`), in the order first seen. */
export type EncodedSpanGroups = Map<Resource, Map<InstrumentationScope, ProtobufBytes>>;

/**
 * An `ExportTraceServiceRequest` of encoded spans, grouped as the SDK groups them (resource, then
 * scope; groups with no spans left out), written into `out` (cleared first) or a new buffer.
 */
export function encodeTraceRequest(groups: EncodedSpanGroups, out?: ProtobufBytes): Uint8Array {
  let size = 1024;
  for (const scopes of groups.values()) for (const spans of scopes.values()) size += spans.pos + 256;
  if (out) out.clear();
  else out = new ProtobufBytes(size);
  for (const [resource, scopes] of groups) {
    let empty = true;
    for (const spans of scopes.values()) if (spans.pos > 0) empty = false;
    if (empty) continue;
    out.tag(1, 2);
    const resourceSpans = out.start();
    out.tag(1, 2);
    const resourceStart = out.start();
    attributes(out, resource.attributes, 1);
    out.tag(2, 0);
    out.varint(0);
    out.end(resourceStart);
    for (const [scope, spans] of scopes) {
      if (spans.pos === 0) continue;
      out.tag(2, 2);
      const scopeSpans = out.start();
      out.tag(1, 2);
      const scopeStart = out.start();
      out.tag(1, 2);
      out.string(scope.name);
      if (scope.version) {
        out.tag(2, 2);
        out.string(scope.version);
      }
      // Scopes with attributes (a newer API's tracer option) are written as the SDK writes them.
      const scoped: InstrumentationScope & { attributes?: Attributes; droppedAttributesCount?: number } =
        scope;
      if (scoped.attributes) attributes(out, scoped.attributes, 3);
      if (scoped.droppedAttributesCount) {
        out.tag(4, 0);
        out.varint(scoped.droppedAttributesCount);
      }
      out.end(scopeStart);
      out.append(spans);
      if (scope.schemaUrl) {
        out.tag(3, 2);
        out.string(scope.schemaUrl);
      }
      out.end(scopeSpans);
    }
    if (resource.schemaUrl) {
      out.tag(3, 2);
      out.string(resource.schemaUrl);
    }
    out.end(resourceSpans);
  }
  return out.view();
}

/**
 * The `partial_success` of an `ExportTraceServiceResponse` (rejected spans and the collector's
 * message), as the OTLP exporter reads it to warn about spans a collector refused.
 */
export function decodeTraceResponse(data: Uint8Array): {
  partialSuccess?: { rejectedSpans?: number; errorMessage?: string };
} {
  const reader = new ProtobufReader(data);
  let partialSuccess: { rejectedSpans?: number; errorMessage?: string } | undefined;
  while (reader.more()) {
    const key = reader.varint();
    if (key >>> 3 === 1 && (key & 7) === 2) {
      const inner = reader.sub();
      partialSuccess = {};
      while (inner.more()) {
        const innerKey = inner.varint();
        if (innerKey >>> 3 === 1 && (innerKey & 7) === 0) partialSuccess.rejectedSpans = inner.varint();
        else if (innerKey >>> 3 === 2 && (innerKey & 7) === 2) partialSuccess.errorMessage = inner.text();
        else inner.skip(innerKey & 7);
      }
    } else reader.skip(key & 7);
  }
  return partialSuccess ? { partialSuccess } : {};
}

class ProtobufReader {
  private pos = 0;

  constructor(
    private readonly data: Uint8Array,
    private readonly limit = data.length,
    start = 0,
  ) {
    this.pos = start;
  }

  more(): boolean {
    return this.pos < this.limit;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.limit) throw new Error('truncated protobuf varint');
      const byte = this.data[this.pos++];
      value += (byte & 127) * scale;
      if (byte < 128) return value;
      scale *= 128;
    }
  }

  sub(): ProtobufReader {
    const length = this.varint();
    const start = this.pos;
    this.pos += length;
    if (this.pos > this.limit) throw new Error('truncated protobuf message');
    return new ProtobufReader(this.data, this.pos, start);
  }

  text(): string {
    const length = this.varint();
    const start = this.pos;
    this.pos += length;
    return Buffer.from(this.data.buffer, this.data.byteOffset + start, length).toString('utf8');
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) this.pos += this.varint();
    else if (wireType === 5) this.pos += 4;
    else throw new Error(`unsupported protobuf wire type ${wireType}`);
  }
}
