import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningLab, SERVICES, startLab } from '#lab/testing';

const ADMIN = { email: 'admin@lab.local', password: 'admin-password' };
const ADDRESS = { line1: '1 Trace Street', city: 'Berlin', postalCode: '10115', country: 'DE' };

interface Tokens {
  access_token: string;
  refresh_token?: string;
}
interface Order {
  id: string;
  status: string;
  lines: { productId: string; quantity: number }[];
}
interface Product {
  id: string;
  name: string;
  price: number;
  stock: number;
}

/** What the first run wrote through the gateway, to read back after each restart. */
interface Written {
  ann: { email: string; password: string; name: string; userId: string };
  /** Access tokens of the first run: signed with the first key, and with the key the admin rotated to. */
  tokenBeforeRotation: string;
  tokenAfterRotation: string;
  kids: string[];
  /** Ann's refresh token chain: `used` was exchanged for `current` before the restart. */
  usedRefresh: string;
  currentRefresh: string;
  product: Product;
  confirmed: Order;
  /** Ann's orders the test knows the id of, with their statuses. */
  orders: [string, string][];
  /** The status of every order of Ann's (a refused order is kept as REJECTED; its id is not answered). */
  statuses: string[];
  catalogueSize: number;
}

/** Calls through one lab's gateway. */
function api(lab: RunningLab) {
  const base = lab.urls.gateway;
  const call = async <T>(
    method: string,
    path: string,
    token?: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token && { authorization: `Bearer ${token}` }),
        ...(body !== undefined && { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as T };
  };
  const grant = (fields: Record<string, string>) =>
    fetch(`${base}/api/oauth/token`, { method: 'POST', body: new URLSearchParams(fields) }).then(
      async (response) => ({
        status: response.status,
        body: (await response.json()) as Tokens & { error?: string },
      }),
    );
  const login = async (email: string, password: string) => {
    const answer = await grant({ grant_type: 'password', username: email, password });
    expect(answer.status).toBe(200);
    return answer.body;
  };
  const kids = async () =>
    (await call<{ keys: { kid: string }[] }>('GET', '/.well-known/jwks.json')).body.keys
      .map((key) => key.kid)
      .sort();
  const catalogueSize = async () =>
    (await call<{ total: number }>('GET', '/api/products?limit=1')).body.total;
  const order = (token: string, lines: { productId: string; quantity: number }[]) =>
    call<Order>('POST', '/api/orders', token, { lines }, { 'idempotency-key': randomUUID() });
  return { call, grant, login, kids, catalogueSize, order };
}

async function writeThroughTheApi(lab: RunningLab): Promise<Written> {
  const { call, grant, login, kids, catalogueSize, order } = api(lab);
  const admin = (await login(ADMIN.email, ADMIN.password)).access_token;

  const ann = {
    email: `ann-${randomUUID().slice(0, 8)}@example.com`,
    password: `pw-${randomUUID()}`,
    name: 'Ann',
  };
  const signedUp = await call<{ id: string }>('POST', '/api/users', undefined, ann);
  expect(signedUp.status).toBe(201);
  const first = await login(ann.email, ann.password);
  expect((await call('PATCH', '/api/customers/me', first.access_token, { address: ADDRESS })).status).toBe(
    200,
  );
  const refreshed = await grant({ grant_type: 'refresh_token', refresh_token: first.refresh_token ?? '' });
  expect(refreshed.status).toBe(200);

  const created = await call<Product>('POST', '/api/products', admin, {
    name: `Restart ${randomUUID().slice(0, 6)}`,
    price: 12.5,
    stock: 10,
  });
  expect(created.status).toBe(201);
  const confirmed = await order(first.access_token, [{ productId: created.body.id, quantity: 2 }]);
  expect(confirmed).toMatchObject({ status: 201, body: { status: 'CONFIRMED' } });
  const toCancel = await order(first.access_token, [{ productId: created.body.id, quantity: 3 }]);
  expect(toCancel.status).toBe(201);
  const cancelled = await call<Order>('POST', `/api/orders/${toCancel.body.id}/cancel`, first.access_token);
  expect(cancelled).toMatchObject({ status: 200, body: { status: 'CANCELLED' } });

  const rotated = await call<{ kid: string }>('POST', '/api/oauth/keys/rotate', admin);
  expect(rotated.status).toBeLessThan(300);
  const afterRotation = await login(ann.email, ann.password);
  expect(decodeProtectedHeader(afterRotation.access_token).kid).toBe(rotated.body.kid);
  expect(decodeProtectedHeader(first.access_token).kid).not.toBe(rotated.body.kid);

  return {
    ann: { ...ann, userId: signedUp.body.id },
    tokenBeforeRotation: first.access_token,
    tokenAfterRotation: afterRotation.access_token,
    kids: await kids(),
    usedRefresh: first.refresh_token ?? '',
    currentRefresh: refreshed.body.refresh_token ?? '',
    product: { ...created.body, stock: 8 },
    confirmed: confirmed.body,
    orders: [
      [confirmed.body.id, 'CONFIRMED'],
      [cancelled.body.id, 'CANCELLED'],
    ],
    statuses: ['CANCELLED', 'CONFIRMED'],
    catalogueSize: await catalogueSize(),
  };
}

/** Everything the first run wrote, read back through a later run's gateway. */
async function expectReadBack(lab: RunningLab, written: Written): Promise<void> {
  const { call, login, kids, catalogueSize } = api(lab);
  // Users and the admin log in; the signing keys are the same, so tokens issued before still verify.
  const ann = (await login(written.ann.email, written.ann.password)).access_token;
  const admin = (await login(ADMIN.email, ADMIN.password)).access_token;
  expect(await kids()).toEqual(written.kids);
  expect(decodeProtectedHeader(ann).kid).toBe(decodeProtectedHeader(written.tokenAfterRotation).kid);
  for (const token of [written.tokenBeforeRotation, written.tokenAfterRotation, ann]) {
    expect(await call('GET', '/api/customers/me', token)).toMatchObject({
      status: 200,
      body: {
        userId: written.ann.userId,
        email: written.ann.email,
        name: written.ann.name,
        address: ADDRESS,
      },
    });
  }
  expect((await call<{ total: number }>('GET', '/api/customers?limit=1', admin)).status).toBe(200);

  // The catalogue: seeds not added again, the admin's product with its stock.
  expect(await catalogueSize()).toBe(written.catalogueSize);
  expect(await call('GET', `/api/products/${written.product.id}`)).toMatchObject({
    status: 200,
    body: { id: written.product.id, name: written.product.name, stock: written.product.stock },
  });

  // Orders with their statuses.
  const listed = await call<{ items: Order[]; total: number }>('GET', '/api/orders', ann);
  expect(listed.body.total).toBe(written.statuses.length);
  expect(listed.body.items.map((o) => o.status).sort()).toEqual([...written.statuses].sort());
  expect(listed.body.items.map((o) => [o.id, o.status])).toEqual(expect.arrayContaining(written.orders));
  expect(await call('GET', `/api/orders/${written.confirmed.id}`, ann)).toMatchObject({
    status: 200,
    body: { status: 'CONFIRMED', lines: [{ productId: written.product.id, quantity: 2 }] },
  });

  // Unique indexes still hold: the same e-mail cannot sign up twice.
  const again = await call('POST', '/api/users', undefined, {
    email: written.ann.email,
    password: `pw-${randomUUID()}`,
    name: 'Ann again',
  });
  expect(again.status).toBe(409);
}

describe('the lab restarted on its own data directory', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'lab-restart-'));
  let lab: RunningLab | undefined;
  let written: Written;

  const restart = async () => {
    await lab?.stop(); // Ctrl-C; the data directory stays
    lab = undefined;
    lab = await startLab({ JWKS_COOLDOWN_MS: '0' }, SERVICES, { dataDir });
    return lab;
  };

  beforeAll(async () => {
    lab = await startLab({ JWKS_COOLDOWN_MS: '0' }, SERVICES, { dataDir });
    written = await writeThroughTheApi(lab);
    await restart();
  }, 180_000);

  afterAll(async () => {
    await lab?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('reads back users, keys, the catalogue, orders and profiles written before a Ctrl-C', async () => {
    await expectReadBack(lab as RunningLab, written);
  });

  it('keeps the refresh token chain: the current token refreshes, the used one still revokes its family', async () => {
    const { grant } = api(lab as RunningLab);
    const next = await grant({ grant_type: 'refresh_token', refresh_token: written.currentRefresh });
    expect(next.status).toBe(200);
    const reuse = await grant({ grant_type: 'refresh_token', refresh_token: written.usedRefresh });
    expect(reuse).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const revoked = await grant({
      grant_type: 'refresh_token',
      refresh_token: next.body.refresh_token ?? '',
    });
    expect(revoked.status).toBe(400);
  });

  it('takes new orders on the restored stock, and reads everything back after a second restart', async () => {
    const { login, order } = api(lab as RunningLab);
    const ann = (await login(written.ann.email, written.ann.password)).access_token;
    const placed = await order(ann, [{ productId: written.product.id, quantity: 8 }]);
    expect(placed).toMatchObject({ status: 201, body: { status: 'CONFIRMED' } });
    expect((await order(ann, [{ productId: written.product.id, quantity: 1 }])).status).toBe(409);

    await restart();
    // The order placed after the first restart and the stock it took are there too.
    await expectReadBack(lab as RunningLab, {
      ...written,
      product: { ...written.product, stock: 0 },
      orders: [...written.orders, [placed.body.id, 'CONFIRMED']],
      statuses: [...written.statuses, 'CONFIRMED', 'REJECTED'],
    });
  }, 120_000);
});
