import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { descendantsOf, isAlive, type RunningLab, startLab } from '#lab/testing';
import { type OrderBody, type Product, shopper } from './shopper.js';

/** Who gets SIGKILL in the middle of the load, and the command line that finds its process. */
const VICTIMS = {
  store: /embedded-mongo\/src\/cli\.js/,
  'order service': /apps\/order\/src\/main\.js/,
} as const;

const USERS = 3;
const ORDERS_PER_USER = 20;
/** Stock small enough that some orders are refused as out_of_stock before the kill. */
const INITIAL_STOCK = [14, 9, 5];
/** The kill comes with this many answers in (of about 80 orders and cancels). */
const KILL_AFTER_ANSWERS = 25;

interface Answer {
  status: number;
  body: OrderBody & { code?: string };
}

/** The pid of the lab's process whose command line matches, found among the launcher's descendants. */
function pidOf(lab: RunningLab, commandLine: RegExp): number {
  const pid = descendantsOf(lab.process.pid).find((candidate) => {
    try {
      return commandLine.test(readFileSync(`/proc/${candidate}/cmdline`, 'utf8').replaceAll('\0', ' '));
    } catch {
      return false; // exited while we looked
    }
  });
  if (pid === undefined) throw new Error(`no process of the lab matches ${commandLine}`);
  return pid;
}

/** Any answer, or status 0 when the connection failed (the process behind it was killed). */
async function attempt(call: () => Promise<Response>): Promise<Answer> {
  try {
    const response = await call();
    const text = await response.text();
    let body = {} as Answer['body'];
    try {
      body = JSON.parse(text) as Answer['body'];
    } catch {
      // not JSON: an answer cut off by the kill
    }
    return { status: response.status, body };
  } catch {
    return { status: 0, body: {} as Answer['body'] };
  }
}

describe('orders and stock survive a SIGKILL in the middle of concurrent orders (lab restarted on its data)', () => {
  let lab: RunningLab | undefined;
  let dataDir: string | undefined;

  afterEach(async () => {
    await lab?.stop();
    lab = undefined;
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  for (const [victim, commandLine] of Object.entries(VICTIMS)) {
    it(`keeps every order answered 201, settles the rest and keeps stock + confirmed units constant when the ${victim} is killed`, async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'crash-'));
      // Breakers that never open: every request of the load reaches the saga, whatever fails.
      const env = { BREAKER_MIN_REQUESTS: '100000' };
      lab = await startLab(env, undefined, { dataDir });
      const current = lab;
      const shop = shopper(() => current.urls.gateway);
      const adminToken = await shop.admin();
      const products: Product[] = [];
      for (const stock of INITIAL_STOCK) products.push(await shop.createProduct(adminToken, stock));
      const buyers: string[] = [];
      for (let i = 0; i < USERS; i++) buyers.push(await shop.signUp(`crash${i}`));

      const placed = new Map<string, { lines: { productId: string; quantity: number }[] }>();
      /** Order id → whether its cancel was answered 200 (true) or answered otherwise (false). */
      const cancels = new Map<string, boolean>();
      const statuses: number[] = [];
      let answers = 0;
      let killed: number | undefined;
      const answered = () => {
        answers++;
        if (answers === KILL_AFTER_ANSWERS) {
          killed = pidOf(current, commandLine);
          process.kill(killed, 'SIGKILL'); // while the other buyers' requests are in flight
        }
      };
      const post = (token: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
        attempt(() =>
          fetch(`${current.urls.gateway}${path}`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(30_000),
          }),
        );
      const buy = async (token: string, buyer: number) => {
        let afterKill = 0;
        // Each buyer stops one order after the kill: later ones would only meet a dead process.
        for (let i = 0; i < ORDERS_PER_USER && (killed === undefined || afterKill++ < 1); i++) {
          const lines = products
            .filter((_, p) => (i + buyer + p) % 3 !== 0)
            .map((product, p) => ({ productId: product.id, quantity: 1 + ((i + p) % 2) }));
          const answer = await post(token, '/api/orders', { lines }, { 'idempotency-key': randomUUID() });
          statuses.push(answer.status);
          answered();
          if (answer.status !== 201) continue;
          placed.set(answer.body.id, { lines });
          if (i % 3 === 0) {
            const cancel = await post(token, `/api/orders/${answer.body.id}/cancel`, {});
            cancels.set(answer.body.id, cancel.status === 200);
            answered();
          }
        }
      };
      await Promise.all(buyers.map((token, buyer) => buy(token, buyer)));

      expect(killed).toBeDefined();
      expect(isAlive(killed ?? 0)).toBe(false);
      expect(placed.size).toBeGreaterThan(0);
      expect(statuses.filter((status) => status === 409).length, 'some orders out of stock').toBeGreaterThan(
        0,
      );
      expect(
        statuses.filter((status) => ![201, 409].includes(status)).length,
        'some orders failed by the kill',
      ).toBeGreaterThan(0);

      await current.stop();
      lab = await startLab(env, undefined, { dataDir });
      const restarted = lab;
      const admin = await shopper(() => restarted.urls.gateway).admin();
      const allOrders = async () => {
        const found: OrderBody[] = [];
        for (let page = 1; ; page++) {
          const response = await fetch(`${restarted.urls.gateway}/api/orders?limit=100&page=${page}`, {
            headers: { authorization: `Bearer ${admin}` },
          });
          const body = (await response.json()) as { items: OrderBody[]; total: number };
          found.push(...body.items);
          if (found.length >= body.total || body.items.length === 0) return found;
        }
      };
      const state = async () => {
        const orders = (await allOrders()).filter((order) =>
          order.lines.some((line) => products.some((p) => p.id === line.productId)),
        );
        const stock = await Promise.all(
          products.map(
            async (product) => (await shopper(() => restarted.urls.gateway).product(product.id)).stock,
          ),
        );
        const confirmedUnits = products.map((product) =>
          orders
            .filter((order) => order.status === 'CONFIRMED')
            .flatMap((order) => order.lines)
            .filter((line) => line.productId === product.id)
            .reduce((sum, line) => sum + line.quantity, 0),
        );
        return {
          orders,
          stock,
          confirmedUnits,
          unsettled: orders.filter((order) => ['PENDING', 'CANCELLING'].includes(order.status)),
        };
      };

      // The compensation sweep (every 2 s) rejects orders left PENDING 30 s after they started and
      // finishes CANCELLING ones; bounded by the time that takes, not by a fixed sleep.
      await expect
        .poll(async () => (await state()).unsettled.length, { timeout: 90_000, interval: 1000 })
        .toBe(0);
      // A settled order's stock may still be on its way back: the sweep marks an abandoned order REJECTED
      // before it releases the order's stock (retried each pass until product confirms), and a hold left
      // by a request that died goes back by product's hold sweep (STALE_HOLD_MS after start-up). Wait for
      // that, bounded: a lost unit never comes back and fails here (CI once read 2 units short right
      // after the orders settled).
      const conserved = async () => {
        const now = await state();
        return products.map((_, p) => now.stock[p] + now.confirmedUnits[p]);
      };
      await expect.poll(conserved, { timeout: 150_000, interval: 2000 }).toEqual(INITIAL_STOCK);
      const { orders, stock, confirmedUnits } = await state();

      const byId = new Map(orders.map((order) => [order.id, order]));
      for (const [id] of placed) {
        const order = byId.get(id);
        expect(order, `order ${id} answered 201`).toBeDefined();
        const cancelled = cancels.get(id);
        if (cancelled === true) expect(order?.status, `order ${id}, cancel answered 200`).toBe('CANCELLED');
        else if (cancelled === false)
          expect(['CONFIRMED', 'CANCELLED'], `order ${id}, cancel failed`).toContain(order?.status);
        else expect(order?.status, `order ${id} answered 201`).toBe('CONFIRMED');
      }
      expect(orders.every((order) => ['CONFIRMED', 'REJECTED', 'CANCELLED'].includes(order.status))).toBe(
        true,
      );
      // And each order's stock reservation agrees with it: held exactly while the order is CONFIRMED.
      const serviceToken = await shopper(() => restarted.urls.gateway).token({
        grant_type: 'client_credentials',
        client_id: 'order-service',
        client_secret: 'order-service-secret',
      });
      for (const order of orders) {
        const response = await fetch(`${restarted.urls.product}/stock/reservations/${order.id}`, {
          headers: { authorization: `Bearer ${serviceToken}` },
        });
        const reservation =
          response.status === 404 ? undefined : ((await response.json()) as { status: string });
        if (order.status === 'CONFIRMED') expect(reservation?.status, `order ${order.id}`).toBe('RESERVED');
        else expect(reservation?.status, `order ${order.id} (${order.status})`).not.toBe('RESERVED');
      }
      for (const [p, product] of products.entries()) {
        expect(
          stock[p] + confirmedUnits[p],
          `product ${product.id}: stock ${stock[p]} + confirmed ${confirmedUnits[p]}`,
        ).toBe(INITIAL_STOCK[p]);
      }
    }, 480_000);
  }
});
