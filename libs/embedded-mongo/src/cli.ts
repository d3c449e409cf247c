import { parseArgs } from 'node:util';
import { EmbeddedMongoServer } from './embedded-mongo.server.js';

const USAGE =
  'usage: node dist/libs/embedded-mongo/src/cli.js [--port 27027] [--host 127.0.0.1] [--data-dir DIR] [--exit-with-parent]';

interface CliOptions {
  host: string;
  port: number;
  dataDir: string | undefined;
  /** Stdin is a pipe from the parent that it never writes: stop (flushing) when it ends. */
  exitWithParent: boolean;
}

function options(): CliOptions {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '27027' },
      host: { type: 'string', default: '127.0.0.1' },
      'data-dir': { type: 'string' },
      'exit-with-parent': { type: 'boolean', default: false },
    },
  });
  // Digits only: Number('') is 0, a random port, and '1e3' or '0x50' are not what anyone typed for a port.
  const port = /^\d+$/.test(values.port) ? Number(values.port) : NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port must be 0-65535, got ${values.port}`);
  return { host: values.host, port, dataDir: values['data-dir'], exitWithParent: values['exit-with-parent'] };
}

async function main(): Promise<void> {
  let parsed: CliOptions;
  try {
    parsed = options();
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : error}\n${USAGE}\n`);
    process.exit(2);
  }
  const { exitWithParent, ...serverOptions } = parsed;
  const server = await EmbeddedMongoServer.start({
    ...serverOptions,
    log: (line) => process.stderr.write(`embedded-mongo: ${line}\n`),
  });
  process.stdout.write(`embedded-mongo ready on ${server.uri}\n`);
  let stopping = false;
  const shutdown = (reason: string): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`embedded-mongo: ${reason}: stopping\n`);
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(
          `embedded-mongo: stop failed: ${error instanceof Error ? error.message : error}\n`,
        );
        process.exit(1);
      },
    );
  };
  // SIGHUP too: a closed terminal must not kill the store before it has written what it holds.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => shutdown(signal));
  if (exitWithParent) {
    // The parent closes its end of the pipe however it ends, SIGKILL included (the kernel does it).
    const parentGone = () => shutdown('parent process gone (stdin closed)');
    // Nobody reads stdout/stderr any more either: a failed write (EPIPE) must not crash the store before it flushes.
    for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
    process.stdin.once('end', parentGone).once('error', parentGone).resume();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : error}\n`);
  process.exit(1);
});
