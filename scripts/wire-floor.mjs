// The floor under `bench-store.mjs`: a server that speaks the MongoDB wire protocol and answers every
// command from memory, with no store behind it (the built store's framing and encoding from dist/,
// canned replies: the handshake, a one-document `find`, a one-document `update`, `{ ok: 1 }` for the
// rest). What the official driver costs on its own, in the client process, is then what is left;
// the embedded store cannot be faster than this, however little it does per operation.
//
//   node scripts/wire-floor.mjs --port N     prints "wire-floor ready on mongodb://127.0.0.1:N"
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Long, ObjectId } from 'bson';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const wire = await import(join(root, 'dist/libs/embedded-mongo/src/wire-protocol.js'));

const { values } = parseArgs({ options: { port: { type: 'string' } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: node scripts/wire-floor.mjs --port N\n');
  process.exit(2);
}

/** The same shape as a document `bench-store.mjs` seeds. */
const document = {
  _id: new ObjectId(),
  n: 0,
  name: 'Item 1',
  price: 1,
  tags: ['bench', 't1'],
  updatedAt: new Date(),
};

function reply(command, connectionId) {
  const name = Object.keys(command)[0];
  if (name === 'hello' || name === 'isMaster' || name === 'ismaster')
    return {
      helloOk: true,
      [name === 'hello' ? 'isWritablePrimary' : 'ismaster']: true,
      maxBsonObjectSize: wire.MAX_BSON_OBJECT_SIZE,
      maxMessageSizeBytes: wire.MAX_MESSAGE_SIZE_BYTES,
      maxWriteBatchSize: 100_000,
      localTime: new Date(),
      connectionId,
      minWireVersion: 0,
      maxWireVersion: 21,
      readOnly: false,
      ok: 1,
    };
  if (name === 'find')
    return { cursor: { firstBatch: [document], id: Long.ZERO, ns: `${command.$db}.${command.find}` }, ok: 1 };
  if (name === 'update') return { n: 1, nModified: 1, ok: 1 };
  return { ok: 1 };
}

let connections = 0;
let nextRequestId = 1;
const server = createServer((socket) => {
  const connectionId = ++connections;
  const framer = new wire.MessageFramer();
  socket.setNoDelay(true);
  socket.on('data', (chunk) => {
    try {
      for (const message of framer.push(chunk)) {
        const header = wire.readHeader(message);
        const request = wire.decodeRequest(message, header);
        if (request.moreToCome) continue;
        const encode = header.opCode === wire.OP_QUERY ? wire.encodeOpReply : wire.encodeOpMsg;
        socket.write(
          encode(nextRequestId++ & 0x7fffffff, header.requestId, reply(request.command, connectionId)),
        );
      }
    } catch (error) {
      process.stderr.write(`wire-floor: ${error.message}\n`);
      socket.destroy();
    }
  });
  socket.on('error', () => undefined);
});
server.listen(port, '127.0.0.1', () =>
  process.stdout.write(`wire-floor ready on mongodb://127.0.0.1:${port}\n`),
);
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
