import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Socket, connect } from 'node:net';
import { type Document, deserialize, serialize } from 'bson';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EmbeddedMongoServer } from './embedded-mongo.server.js';
import {
  MessageFramer,
  OP_MSG,
  OP_QUERY,
  OP_REPLY,
  ProtocolError,
  decodeRequest,
  readHeader,
} from './wire-protocol.js';

function header(length: number, requestId: number, opCode: number): Buffer {
  const out = Buffer.alloc(16);
  out.writeInt32LE(length, 0);
  out.writeInt32LE(requestId, 4);
  out.writeInt32LE(0, 8);
  out.writeInt32LE(opCode, 12);
  return out;
}

function opMsg(
  requestId: number,
  body: Document,
  options: { flags?: number; sequence?: [string, Document[]] } = {},
) {
  const parts: Buffer[] = [Buffer.from([0]), Buffer.from(serialize(body))];
  if (options.sequence) {
    const [id, docs] = options.sequence;
    const payload = Buffer.concat([Buffer.from(`${id}\0`), ...docs.map((d) => Buffer.from(serialize(d)))]);
    const size = Buffer.alloc(4);
    size.writeInt32LE(payload.length + 4);
    parts.push(Buffer.from([1]), size, payload);
  }
  const flags = Buffer.alloc(4);
  flags.writeUInt32LE(options.flags ?? 0);
  const checksum = (options.flags ?? 0) & 1 ? Buffer.alloc(4) : Buffer.alloc(0);
  const rest = Buffer.concat([flags, ...parts, checksum]);
  return Buffer.concat([header(16 + rest.length, requestId, OP_MSG), rest]);
}

function opQuery(requestId: number, ns: string, query: Document): Buffer {
  const counts = Buffer.alloc(8);
  counts.writeInt32LE(-1, 4);
  const rest = Buffer.concat([
    Buffer.alloc(4),
    Buffer.from(`${ns}\0`),
    counts,
    Buffer.from(serialize(query)),
  ]);
  return Buffer.concat([header(16 + rest.length, requestId, OP_QUERY), rest]);
}

describe(MessageFramer.name, () => {
  it('reassembles messages split across chunks and separates messages sharing a chunk', () => {
    const a = opMsg(1, { ping: 1, $db: 'admin' });
    const b = opMsg(2, { hello: 1, $db: 'admin' });
    const framer = new MessageFramer();
    const stream = Buffer.concat([a, b, a]);
    const out: Buffer[] = [];
    out.push(...framer.push(stream.subarray(0, 3)));
    for (let i = 3; i < a.length + 5; i++) out.push(...framer.push(stream.subarray(i, i + 1)));
    out.push(...framer.push(stream.subarray(a.length + 5)));
    expect(out.map((m) => readHeader(m).requestId)).toEqual([1, 2, 1]);
    expect(Buffer.concat(out).equals(stream)).toBe(true);
  });

  it('refuses a message longer than the maximum size', () => {
    expect(() => new MessageFramer(1000).push(header(1001, 1, OP_MSG))).toThrow(ProtocolError);
    expect(() => new MessageFramer().push(header(8, 1, OP_MSG))).toThrow(ProtocolError);
  });
});

describe(decodeRequest.name, () => {
  it('merges OP_MSG document sequences into the command and reads the flags', () => {
    const message = opMsg(
      7,
      { insert: 'c', $db: 'app' },
      { flags: 0b11, sequence: ['documents', [{ a: 1 }, { a: 2 }]] },
    );
    const request = decodeRequest(message);
    expect(request).toMatchObject({ db: 'app', moreToCome: true, header: { requestId: 7, opCode: OP_MSG } });
    expect(request.command).toEqual({ insert: 'c', $db: 'app', documents: [{ a: 1 }, { a: 2 }] });
  });

  it('rejects every inconsistent length or section instead of reading past it or looping', () => {
    const valid = opMsg(1, { insert: 'c', $db: 'app' }, { sequence: ['documents', [{ a: 1 }]] });
    const sectionAt = 21 + (valid.readInt32LE(21) as number) + 1; // after the body, past the kind byte
    const withInt = (at: number, value: number) => {
      const copy = Buffer.from(valid);
      copy.writeInt32LE(value, at);
      return copy;
    };
    const cases: Array<[string, Buffer]> = [
      ['sequence size -1, pointing back at its own kind byte', withInt(sectionAt, -1)],
      ['negative sequence size', withInt(sectionAt, -8)],
      ['zero sequence size', withInt(sectionAt, 0)],
      ['sequence size past the message', withInt(sectionAt, 10_000)],
      ['largest sequence size', withInt(sectionAt, 0x7fffffff)],
      ['negative body size', withInt(21, -1)],
      ['body size past the message', withInt(21, valid.length)],
      ['document in the sequence past its section', withInt(sectionAt + 4 + 'documents'.length + 1, 500)],
      ['no sections', Buffer.concat([header(20, 1, OP_MSG), Buffer.alloc(4)])],
      [
        'unknown required flag',
        (() => {
          const copy = Buffer.from(valid);
          copy.writeUInt32LE(1 << 4, 16);
          return copy;
        })(),
      ],
      [
        'two body sections',
        (() => {
          const one = opMsg(1, { ping: 1, $db: 'a' });
          const body = one.subarray(20);
          const both = Buffer.concat([one, body]);
          both.writeInt32LE(both.length, 0);
          return both;
        })(),
      ],
      [
        'identifier without its NUL',
        (() => {
          const copy = Buffer.from(valid);
          copy.fill(0x61, sectionAt + 4);
          return copy;
        })(),
      ],
      ['OP_QUERY cut off after its namespace', opQuery(1, 'admin.$cmd', { ping: 1 }).subarray(0, 31)],
    ];
    for (const [name, message] of cases) {
      expect(() => decodeRequest(message), name).toThrow();
    }
  });

  it('decodes a legacy OP_QUERY command, unwrapping $query', () => {
    const request = decodeRequest(opQuery(3, 'admin.$cmd', { $query: { isMaster: 1 }, $readPreference: {} }));
    expect(request).toMatchObject({ db: 'admin', command: { isMaster: 1 }, moreToCome: false });
  });
});

describe(`${EmbeddedMongoServer.name} on raw TCP`, () => {
  let server: EmbeddedMongoServer;

  beforeAll(async () => {
    server = await EmbeddedMongoServer.start();
  });

  afterAll(async () => {
    await server.stop();
  });

  async function open(): Promise<{ socket: Socket; next: () => Promise<Buffer> }> {
    const socket = connect(server.port, '127.0.0.1');
    await once(socket, 'connect');
    const framer = new MessageFramer();
    const queue: Buffer[] = [];
    const waiting: Array<(m: Buffer) => void> = [];
    socket.on('data', (chunk: Buffer) => {
      for (const m of framer.push(chunk)) (waiting.shift() ?? ((x: Buffer) => queue.push(x)))(m);
    });
    const next = () =>
      new Promise<Buffer>((done) => (queue.length ? done(queue.shift() as Buffer) : waiting.push(done)));
    return { socket, next };
  }

  const body = (reply: Buffer, opCode: number): Document =>
    deserialize(reply.subarray(opCode === OP_REPLY ? 36 : 21));

  it('answers an OP_QUERY handshake with OP_REPLY and pipelined OP_MSG commands in order', async () => {
    const { socket, next } = await open();
    socket.write(opQuery(1, 'admin.$cmd', { isMaster: 1, helloOk: true }));
    const handshake = await next();
    expect(readHeader(handshake)).toMatchObject({ opCode: OP_REPLY, responseTo: 1 });
    expect(body(handshake, OP_REPLY)).toMatchObject({
      ismaster: true,
      helloOk: true,
      maxWireVersion: 21,
      ok: 1,
    });

    socket.write(
      Buffer.concat([opMsg(2, { ping: 1, $db: 'admin' }), opMsg(3, { buildInfo: 1, $db: 'admin' })]),
    );
    const [ping, build] = [await next(), await next()];
    expect(readHeader(ping).responseTo).toBe(2);
    expect(body(build, OP_MSG)).toMatchObject({ version: '7.0.0', ok: 1 });
    socket.destroy();
  });

  it('applies a moreToCome write without replying', async () => {
    const { socket, next } = await open();
    socket.write(
      opMsg(1, { insert: 'quiet', $db: 'raw' }, { flags: 0b10, sequence: ['documents', [{ q: 1 }]] }),
    );
    socket.write(opMsg(2, { count: 'quiet', $db: 'raw' }));
    const reply = await next();
    expect(readHeader(reply).responseTo).toBe(2);
    expect(body(reply, OP_MSG)).toMatchObject({ n: 1, ok: 1 });
    socket.destroy();
  });

  it('answers pipelined commands in order when some wait for the journal or its fsync', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'embedded-mongo-wire-'));
    const durable = await EmbeddedMongoServer.start({ dataDir });
    try {
      const socket = connect(durable.port, '127.0.0.1');
      await once(socket, 'connect');
      const framer = new MessageFramer();
      const replies: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => replies.push(...framer.push(chunk)));
      const insert = (id: number, j: boolean) =>
        opMsg(
          id,
          { insert: 'piped', $db: 'raw', ...(j ? { writeConcern: { j: true } } : {}) },
          {
            sequence: ['documents', [{ _id: id }]],
          },
        );
      socket.write(
        Buffer.concat([
          insert(1, true),
          opMsg(2, { count: 'piped', $db: 'raw' }),
          insert(3, false),
          opMsg(4, { ping: 1, $db: 'admin' }),
          insert(5, true),
          opMsg(6, { count: 'piped', $db: 'raw' }),
        ]),
      );
      const deadline = Date.now() + 10_000;
      while (replies.length < 6 && Date.now() < deadline) await new Promise((done) => setTimeout(done, 10));
      expect(replies.map((r) => readHeader(r).responseTo)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(body(replies[1], OP_MSG)).toMatchObject({ n: 1, ok: 1 });
      expect(body(replies[5], OP_MSG)).toMatchObject({ n: 3, ok: 1 });
      socket.destroy();
    } finally {
      await durable.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('writes the replies to messages that arrived together in one write, also when they waited for the journal', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'embedded-mongo-wire-'));
    const durable = await EmbeddedMongoServer.start({ dataDir });
    const writes = vi.spyOn(Socket.prototype, '_write');
    const writevs = vi.spyOn(Socket.prototype, '_writev');
    try {
      for (const [target, first] of [
        [server, opMsg(1, { ping: 1, $db: 'admin' })],
        [durable, opMsg(1, { insert: 'together', $db: 'raw' }, { sequence: ['documents', [{ _id: 1 }]] })],
      ] as const) {
        const socket = connect(target.port, '127.0.0.1');
        await once(socket, 'connect');
        const framer = new MessageFramer();
        const replies: Buffer[] = [];
        socket.on('data', (chunk: Buffer) => replies.push(...framer.push(chunk)));
        socket.write(
          Buffer.concat([
            first,
            opMsg(2, { count: 'together', $db: 'raw' }),
            opMsg(3, { ping: 1, $db: 'admin' }),
          ]),
        );
        const deadline = Date.now() + 10_000;
        while (replies.length < 3 && Date.now() < deadline) await new Promise((done) => setTimeout(done, 10));
        expect(replies.map((r) => readHeader(r).responseTo)).toEqual([1, 2, 3]);
        const serverSide = (calls: { mock: { contexts: unknown[] } }) =>
          calls.mock.contexts.filter((context) => context !== socket).length;
        expect([serverSide(writes), serverSide(writevs)], `store ${target.port}`).toEqual([0, 1]);
        socket.destroy();
        writes.mockClear();
        writevs.mockClear();
      }
    } finally {
      writes.mockRestore();
      writevs.mockRestore();
      await durable.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('closes connections beyond the limit with a log line and accepts new ones once others close', async () => {
    const log: string[] = [];
    const limited = await EmbeddedMongoServer.start({ maxConnections: 2, log: (line) => log.push(line) });
    const connectTo = async () => {
      const socket = connect(limited.port, '127.0.0.1');
      await once(socket, 'connect');
      return socket;
    };
    try {
      const [a, b] = [await connectTo(), await connectTo()];
      const third = await connectTo();
      await once(third, 'close');
      expect(log.join('\n')).toMatch(/refused: 2 connections open \(the limit\)/);
      a.destroy();
      await once(a, 'close');
      const fourth = await connectTo();
      const framer = new MessageFramer();
      fourth.write(opMsg(9, { ping: 1, $db: 'admin' }));
      const [chunk] = (await once(fourth, 'data')) as [Buffer];
      expect(readHeader(framer.push(chunk)[0]).responseTo).toBe(9);
      b.destroy();
      fourth.destroy();
    } finally {
      await limited.stop();
    }
  });

  it('answers malformed BSON with an error but closes the connection on an oversize message', async () => {
    const { socket, next } = await open();
    const broken = opMsg(1, { ping: 1, $db: 'admin' });
    broken.writeInt32LE(9999, 21);
    socket.write(broken);
    expect(body(await next(), OP_MSG)).toMatchObject({ ok: 0, code: 22 });

    socket.write(header(48_000_001, 2, OP_MSG));
    await once(socket, 'close');

    const other = await open();
    other.socket.write(opMsg(3, { ping: 1, $db: 'admin' }));
    expect(body(await other.next(), OP_MSG)).toMatchObject({ ok: 1 });
    other.socket.destroy();
  });
});
