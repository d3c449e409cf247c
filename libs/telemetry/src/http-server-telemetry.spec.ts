import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { trace } from '@opentelemetry/api';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { useInMemoryTracing } from '../test/in-memory-tracing.js';
import { HttpServerTelemetry } from './http-server-telemetry.js';
import { Metrics } from './metrics.js';

const tracing = useInMemoryTracing();

async function spansNamed(name: string, count = 1) {
  for (let i = 0; i < 100 && tracing.spans(name).length < count; i++)
    await new Promise((r) => setTimeout(r, 20));
  return tracing.spans(name);
}

// The span's attributes are set when it ends: by then a client that went away has closed the socket.
describe('HttpServerTelemetry: the server span of a request whose client is gone by its end', () => {
  let app: FastifyInstance;
  afterEach(() => app.close());

  async function listen(routes: (app: FastifyInstance) => void): Promise<number> {
    app = Fastify();
    new HttpServerTelemetry(new Metrics(), trace.getTracer('spec')).install(app);
    routes(app);
    await app.listen({ port: 0, host: '127.0.0.1' });
    return (app.server.address() as AddressInfo).port;
  }

  it('keeps every request attribute, client.address included, when the client aborts mid-request', async () => {
    let started!: () => void;
    const inHandler = new Promise<void>((resolve) => (started = resolve));
    const port = await listen((app) =>
      app.get('/slow/:id', async (request) => {
        started();
        await new Promise((resolve) => request.raw.once('close', resolve));
        await new Promise((resolve) => setTimeout(resolve, 20));
        return { late: true };
      }),
    );
    const client = httpRequest({
      port,
      host: '127.0.0.1',
      path: '/slow/1?x=1',
      headers: { 'user-agent': 'spec' },
    });
    client.on('error', () => undefined);
    client.end();
    await inHandler;
    client.destroy();
    const [span] = await spansNamed('GET /slow/:id');
    expect(span?.attributes).toMatchObject({
      'client.address': '127.0.0.1',
      'url.path': '/slow/1',
      'http.route': '/slow/:id',
      'user_agent.original': 'spec',
      'error.type': 'aborted',
    });
  });

  it('keeps client.address for a client that sends its request and half-closes at once', async () => {
    const port = await listen((app) =>
      app.get('/late', async () => {
        await new Promise((resolve) => setTimeout(resolve, 30));
        return { ok: true };
      }),
    );
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () =>
        socket.end('GET /late HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      );
      socket.on('data', () => undefined);
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
    const [span] = await spansNamed('GET /late');
    expect(span?.attributes['client.address']).toBe('127.0.0.1');
  });
});
