import { parseArgs } from 'node:util';
import { EmbeddedMongoServer } from './embedded-mongo.server.js';

const USAGE =
  'usage: node dist/libs/embedded-mongo/src/cli.js [--port 27027] [--host 127.0.0.1] [--data-dir DIR]';

function options(): { host: string; port: number; dataDir: string | undefined } {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '27027' },
      host: { type: 'string', default: '127.0.0.1' },
      'data-dir': { type: 'string' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port must be 0-65535, got ${values.port}`);
  return { host: values.host, port, dataDir: values['data-dir'] };
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof options>;
  try {
    parsed = options();
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : error}\n${USAGE}\n`);
    process.exit(2);
  }
  const server = await EmbeddedMongoServer.start({
    ...parsed,
    log: (line) => process.stderr.write(`embedded-mongo: ${line}\n`),
  });
  process.stdout.write(`embedded-mongo ready on ${server.uri}\n`);
  const shutdown = (): void => {
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
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : error}\n`);
  process.exit(1);
});
