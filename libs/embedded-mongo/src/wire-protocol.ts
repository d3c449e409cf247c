import { type DeserializeOptions, type Document, deserialize, serialize } from 'bson';
import { EncodedReply } from './raw-bson.js';

export const OP_REPLY = 1;
export const OP_QUERY = 2004;
export const OP_MSG = 2013;

export const MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024;
export const MAX_MESSAGE_SIZE_BYTES = 48_000_000;

const HEADER_SIZE = 16;
const CHECKSUM_PRESENT = 1 << 0;
const MORE_TO_COME = 1 << 1;

/** Numbers become JS numbers so mingo can compare them; Longs outside the safe integer range stay `Long`. */
export const BSON_DESERIALIZE_OPTIONS: DeserializeOptions = { promoteLongs: true, promoteValues: true };

export interface MessageHeader {
  readonly messageLength: number;
  readonly requestId: number;
  readonly responseTo: number;
  readonly opCode: number;
}

export interface CommandRequest {
  readonly header: MessageHeader;
  readonly db: string;
  readonly command: Document;
  /** The client expects no reply (OP_MSG moreToCome, e.g. unacknowledged writes). */
  readonly moreToCome: boolean;
}

/** The byte stream can no longer be trusted: the connection must be closed. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/** Cuts a TCP byte stream into whole messages, however the chunks fall. */
export class MessageFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxMessageSize = MAX_MESSAGE_SIZE_BYTES) {}

  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const messages: Buffer[] = [];
    while (this.buffered >= 4) {
      if (this.chunks[0].length < 4) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
      const length = this.chunks[0].readInt32LE(0);
      if (length < HEADER_SIZE || length > this.maxMessageSize) {
        throw new ProtocolError(`invalid message length ${length} (max ${this.maxMessageSize})`);
      }
      if (this.buffered < length) break;
      // Concatenating only once a message is complete keeps large multi-chunk messages linear.
      const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
      messages.push(all.subarray(0, length));
      const rest = all.subarray(length);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
    }
    return messages;
  }
}

export function readHeader(message: Buffer): MessageHeader {
  return {
    messageLength: message.readInt32LE(0),
    requestId: message.readInt32LE(4),
    responseTo: message.readInt32LE(8),
    opCode: message.readInt32LE(12),
  };
}

/** Decodes an OP_MSG, or the legacy OP_QUERY on `<db>.$cmd` that drivers may use for the handshake. */
export function decodeRequest(message: Buffer, header = readHeader(message)): CommandRequest {
  if (header.opCode === OP_MSG) return decodeOpMsg(message, header);
  if (header.opCode === OP_QUERY) return decodeOpQuery(message, header);
  throw new ProtocolError(`unsupported opCode ${header.opCode}`);
}

/** A malformed message the connection survives: it gets an error reply. */
class MalformedMessage extends RangeError {
  override name = 'MalformedMessage';
}

/** Reads one BSON document that must lie within [offset, limit). */
function readDocument(message: Buffer, offset: number, limit: number): { doc: Document; end: number } {
  if (limit - offset < 5) throw new MalformedMessage('BSON document overruns its section');
  const size = message.readInt32LE(offset);
  if (size < 5 || size > limit - offset)
    throw new MalformedMessage(`BSON document of ${size} bytes overruns its section`);
  if (size > MAX_BSON_OBJECT_SIZE + 16 * 1024)
    throw new MalformedMessage(`BSON document of ${size} bytes is too large`);
  return {
    doc: deserialize(message.subarray(offset, offset + size), BSON_DESERIALIZE_OPTIONS),
    end: offset + size,
  };
}

/** Reads a NUL-terminated string that must end before `limit`. */
function readCString(message: Buffer, offset: number, limit: number): { value: string; end: number } {
  const nul = message.subarray(0, limit).indexOf(0, offset);
  if (nul < 0) throw new MalformedMessage('unterminated cstring');
  return { value: message.toString('utf8', offset, nul), end: nul + 1 };
}

/** Flag bits 0-15 must be understood by the receiver; only checksumPresent and moreToCome are known. */
const REQUIRED_FLAG_BITS = 0xffff;
const KNOWN_FLAGS = CHECKSUM_PRESENT | MORE_TO_COME;

function decodeOpMsg(message: Buffer, header: MessageHeader): CommandRequest {
  if (message.length < HEADER_SIZE + 5)
    throw new MalformedMessage('OP_MSG shorter than its flags and one section');
  const flags = message.readUInt32LE(HEADER_SIZE);
  if (flags & REQUIRED_FLAG_BITS & ~KNOWN_FLAGS)
    throw new MalformedMessage(
      `OP_MSG has unknown required flag bits ${(flags & REQUIRED_FLAG_BITS & ~KNOWN_FLAGS).toString(2)}`,
    );
  const end = message.length - (flags & CHECKSUM_PRESENT ? 4 : 0);
  let body: Document | undefined;
  const sequences: Array<[string, Document[]]> = [];
  let offset = HEADER_SIZE + 4;
  if (end <= offset) throw new MalformedMessage('OP_MSG without sections');
  while (offset < end) {
    const kind = message[offset];
    offset += 1;
    if (kind === 0) {
      if (body) throw new MalformedMessage('OP_MSG with more than one body section');
      const read = readDocument(message, offset, end);
      body = read.doc;
      offset = read.end;
    } else if (kind === 1) {
      if (end - offset < 4) throw new MalformedMessage('document sequence header overruns the message');
      const size = message.readInt32LE(offset);
      // At least the size itself and an empty identifier's NUL.
      if (size < 5 || size > end - offset)
        throw new MalformedMessage(`document sequence of ${size} bytes does not fit the message`);
      const sectionEnd = offset + size;
      const id = readCString(message, offset + 4, sectionEnd);
      const docs: Document[] = [];
      for (let p = id.end; p < sectionEnd;) {
        const read = readDocument(message, p, sectionEnd);
        docs.push(read.doc);
        p = read.end;
      }
      sequences.push([id.value, docs]);
      offset = sectionEnd;
    } else {
      throw new ProtocolError(`unknown OP_MSG section kind ${kind}`);
    }
  }
  if (!body) throw new MalformedMessage('OP_MSG without a body section');
  for (const [id, docs] of sequences) body[id] = docs;
  const db = body.$db;
  if (typeof db !== 'string' || db === '') throw new MalformedMessage('OP_MSG body without $db');
  return { header, db, command: body, moreToCome: (flags & MORE_TO_COME) !== 0 };
}

function decodeOpQuery(message: Buffer, header: MessageHeader): CommandRequest {
  const ns = readCString(message, HEADER_SIZE + 4, message.length);
  // numberToSkip and numberToReturn are irrelevant for commands.
  const { doc } = readDocument(message, ns.end + 8, message.length);
  if (!ns.value.endsWith('.$cmd'))
    throw new MalformedMessage(`OP_QUERY is only supported for commands, not ${ns.value}`);
  const command = doc.$query !== null && typeof doc.$query === 'object' ? (doc.$query as Document) : doc;
  return { header, db: ns.value.slice(0, -'.$cmd'.length), command, moreToCome: false };
}

const encodeBody = (reply: Document | EncodedReply): Uint8Array =>
  reply instanceof EncodedReply ? reply.body : serialize(reply, { ignoreUndefined: true });

export function encodeOpMsg(requestId: number, responseTo: number, reply: Document | EncodedReply): Buffer {
  const body = encodeBody(reply);
  const out = Buffer.allocUnsafe(HEADER_SIZE + 5 + body.length);
  writeHeader(out, requestId, responseTo, OP_MSG);
  out.writeUInt32LE(0, HEADER_SIZE);
  out[HEADER_SIZE + 4] = 0;
  out.set(body, HEADER_SIZE + 5);
  return out;
}

export function encodeOpReply(requestId: number, responseTo: number, reply: Document | EncodedReply): Buffer {
  const body = encodeBody(reply);
  const out = Buffer.allocUnsafe(HEADER_SIZE + 20 + body.length);
  writeHeader(out, requestId, responseTo, OP_REPLY);
  out.writeInt32LE(0, HEADER_SIZE); // responseFlags
  out.writeBigInt64LE(0n, HEADER_SIZE + 4); // cursorID
  out.writeInt32LE(0, HEADER_SIZE + 12); // startingFrom
  out.writeInt32LE(1, HEADER_SIZE + 16); // numberReturned
  out.set(body, HEADER_SIZE + 20);
  return out;
}

function writeHeader(out: Buffer, requestId: number, responseTo: number, opCode: number): void {
  out.writeInt32LE(out.length, 0);
  out.writeInt32LE(requestId, 4);
  out.writeInt32LE(responseTo, 8);
  out.writeInt32LE(opCode, 12);
}
