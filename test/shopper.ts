import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';

const ADMIN = { email: 'admin@lab.local', password: 'admin-password' };

export interface Product {
  id: string;
  name: string;
  price: number;
  stock: number;
}
export interface OrderBody {
  id: string;
  status: string;
  total: number | null;
  lines: { productId: string; quantity: number; unitPrice?: number }[];
  reason?: string;
}

/**
 * A user of the lab, calling through the gateway; `send` is the fetch it uses (a contract's fetch checks
 * every answer against the OpenAPI document).
 */
export function shopper(
  base: () => string,
  send: (input: string, init?: RequestInit) => Promise<Response> = fetch,
) {
  const json = async <T>(response: Response) => ({
    status: response.status,
    body: (await response.json()) as T,
  });
  const token = async (fields: Record<string, string>) => {
    const response = await send(`${base()}/api/oauth/token`, {
      method: 'POST',
      body: new URLSearchParams(fields),
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { access_token: string }).access_token;
  };
  const signUp = async (name: string) => {
    const email = `${name}-${randomUUID().slice(0, 8)}@example.com`;
    const password = `pw-${randomUUID()}`;
    const created = await send(`${base()}/api/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password, name }),
    });
    expect(created.status).toBe(201);
    return token({ grant_type: 'password', username: email, password });
  };
  const call = <T>(
    accessToken: string,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) =>
    send(`${base()}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${accessToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then((response) => json<T>(response));
  const order = (
    accessToken: string,
    lines: { productId: string; quantity: number }[],
    key: string = randomUUID(),
  ) =>
    call<OrderBody & { code?: string }>(
      accessToken,
      'POST',
      '/api/orders',
      { lines },
      { 'idempotency-key': key },
    );
  const product = async (id: string) =>
    (await json<Product>(await send(`${base()}/api/products/${id}`))).body;
  const admin = () => token({ grant_type: 'password', username: ADMIN.email, password: ADMIN.password });
  const createProduct = async (adminToken: string, stock: number, price = 12.5) => {
    const created = await call<Product>(adminToken, 'POST', '/api/products', {
      name: `Storm ${randomUUID().slice(0, 6)}`,
      price,
      stock,
    });
    expect(created.status).toBe(201);
    return created.body;
  };
  return { token, signUp, call, order, product, admin, createProduct };
}
