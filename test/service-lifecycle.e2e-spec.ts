import { describe, expect, it } from 'vitest';
import { freePort, startNode, waitForHttp } from '#lab/testing';

describe('a service started on its own', () => {
  it('runs on an in-memory embedded store when MONGO_URL is not set, and reports it', async () => {
    const port = await freePort();
    const product = startNode('dist/apps/product/src/main.js', [], {
      env: { PRODUCT_PORT: String(port), MONGO_URL: '' },
    });
    try {
      await waitForHttp(`http://127.0.0.1:${port}/health/ready`, 200, 20_000);
      expect(product.output()).toContain('MONGO_URL is not set: using an in-memory embedded MongoDB');
    } finally {
      product.signal('SIGTERM');
      await product.exited;
    }
  });

  it('answers 503 on readiness while draining after SIGTERM, stays live, then exits 0', async () => {
    const port = await freePort();
    const product = startNode('dist/apps/product/src/main.js', [], {
      env: { PRODUCT_PORT: String(port), MONGO_URL: '', SHUTDOWN_DRAIN_MS: '1500' },
    });
    await waitForHttp(`http://127.0.0.1:${port}/health/ready`, 200, 20_000);
    product.signal('SIGTERM');
    const draining = await waitForHttp(`http://127.0.0.1:${port}/health/ready`, 503, 1000);
    expect(draining).toMatchObject({ status: 'error', error: { lifecycle: { status: 'down' } } });
    expect((await fetch(`http://127.0.0.1:${port}/health/live`)).status).toBe(200);
    expect(await product.exited).toBe(0);
    expect(product.output()).toContain('SIGTERM: readiness now 503');
  });

  it('exits 1 naming MONGO_URL when MongoDB cannot be reached at start-up', async () => {
    const port = await freePort();
    const deadMongo = await freePort();
    const order = startNode('dist/apps/order/src/main.js', [], {
      env: { ORDER_PORT: String(port), MONGO_URL: `mongodb://127.0.0.1:${deadMongo}` },
    });
    expect(await order.exited).toBe(1);
    expect(order.output()).toMatch(/order failed to start: cannot reach MongoDB \(check MONGO_URL\)/);
  });

  it('exits 1 naming a bad variable', async () => {
    const gateway = startNode('dist/apps/gateway/src/main.js', [], {
      env: { GATEWAY_PORT: 'x', HOST: 'bad host!' },
    });
    expect(await gateway.exited).toBe(1);
    expect(gateway.output()).toContain('gateway failed to start: Invalid configuration for gateway');
    expect(gateway.output()).toContain('GATEWAY_PORT must be an integer');
    expect(gateway.output()).toContain('HOST must be a host name or IP address');
  });
});
