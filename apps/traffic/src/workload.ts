import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ApiResult, LabApi } from './lab-api.js';
import { TASKS, type TaskName } from './options.js';
import { type Outcome, type Stats, worse } from './stats.js';

/** The scope of the generator's own spans: one root span per task, `traffic.<task>`. */
const tracer = trace.getTracer('traffic');

/** Refresh an access token this long before it expires. */
const REFRESH_MARGIN_MS = 60_000;
const FILTER_TERMS = ['coffee', 'mug', 'kettle', 'desk', 'pen', 'usb', 'lamp', 'beans', 'wireless', 'tea'];

export interface User {
  readonly email: string;
  readonly password: string;
  accessToken: string;
  refreshToken?: string;
  expiresAt: number;
  refreshing?: Promise<void>;
}

interface TokenAnswer {
  access_token: string;
  refresh_token?: string;
  expires_in: number;
}

interface ProductSummary {
  id: string;
  stock?: number;
}

/** What the generator knows of the catalogue: ids seen while browsing, with the last stock seen. */
class Catalogue {
  private readonly stock = new Map<string, number>();
  total = 0;

  learn(items: readonly ProductSummary[], total?: number): void {
    for (const item of items) this.stock.set(item.id, item.stock ?? this.stock.get(item.id) ?? 1);
    if (typeof total === 'number') this.total = total;
  }

  setStock(id: string, stock: number): void {
    if (this.stock.has(id)) this.stock.set(id, Math.max(0, stock));
  }

  stockOf(id: string): number | undefined {
    return this.stock.get(id);
  }

  get size(): number {
    return this.stock.size;
  }

  any(): string | undefined {
    const ids = [...this.stock.keys()];
    return ids.length ? ids[randomInt(ids.length)] : undefined;
  }

  /** Up to `count` distinct products, those with stock left first (as last seen). */
  pick(count: number): string[] {
    const shuffled = [...this.stock].sort(() => Math.random() - 0.5);
    const inStock = shuffled.filter(([, stock]) => stock > 0).map(([id]) => id);
    const rest = shuffled.filter(([, stock]) => stock <= 0).map(([id]) => id);
    return [...inStock, ...rest].slice(0, count);
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null;

/** Signs users up, keeps their tokens fresh, and runs each task as a root span of its own trace. */
export class Workload {
  private readonly catalogue = new Catalogue();
  private readonly runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  private readonly cumulative: { task: TaskName; upTo: number }[] = [];
  private readonly totalWeight: number;

  constructor(
    private readonly api: LabApi,
    private readonly stats: Stats,
    weights: Readonly<Record<TaskName, number>>,
  ) {
    let sum = 0;
    for (const task of TASKS) {
      if (weights[task] <= 0) continue;
      sum += weights[task];
      this.cumulative.push({ task, upTo: sum });
    }
    this.totalWeight = sum;
  }

  /** A task drawn from the weighted mix. */
  nextTask(): TaskName {
    const draw = Math.random() * this.totalWeight;
    return (this.cumulative.find((entry) => draw < entry.upTo) ?? this.cumulative[this.cumulative.length - 1])
      .task;
  }

  /** Creates the user (oauth, which creates the profile in customer) and gets its tokens. */
  async signUp(index: number): Promise<User> {
    const email = `traffic-${this.runId}-${index}@example.com`;
    const password = `pw-${randomBytes(9).toString('base64url')}`;
    let user: User | undefined;
    await this.inRootSpan('signup', async (track) => {
      // A slow lab (password hashing on a busy machine) may time out at the gateway: try again, and
      // take "already exists" after a retry as the first attempt having worked.
      const created = await retried(track, (attempt) =>
        this.api.call('POST', '/api/users', {
          json: { email, password, name: `Traffic ${index}` },
          expected: (status) => attempt > 1 && status === 409,
        }),
      );
      if (created.status !== 201 && created.outcome !== 'expected') {
        throw new Error(`sign-up of ${email} answered ${describe(created)}`);
      }
      const token = await retried(track, () =>
        this.api.call('POST', '/api/oauth/token', {
          form: { grant_type: 'password', username: email, password },
        }),
      );
      if (token.status !== 200) throw new Error(`password grant for ${email} answered ${describe(token)}`);
      user = { email, password, ...tokensOf(token.body as TokenAnswer) };
    });
    if (!user) throw new Error(`sign-up of ${email} failed`);
    return user;
  }

  /** Runs one task for `user` in a new root span `traffic.<task>`; never throws. */
  async run(task: TaskName, user: User): Promise<void> {
    await this.inRootSpan(task, async (track, span) => {
      span.setAttribute('enduser.id', user.email);
      await this.ensureFreshToken(user, track);
      switch (task) {
        case 'browse':
          return this.browse(track);
        case 'view':
          return this.view(track);
        case 'order':
          return this.order(user, track);
        case 'cancel':
          return this.cancel(user, track);
        case 'profile':
          track(await this.api.call('GET', '/api/customers/me', { token: user.accessToken }));
          return;
      }
    }).catch(() => undefined);
  }

  private async browse(track: Track): Promise<void> {
    const limit = [5, 10, 20][randomInt(3)];
    const pages = this.catalogue.total > 0 ? Math.ceil(this.catalogue.total / limit) : 1;
    const params = new URLSearchParams({ page: String(1 + randomInt(pages)), limit: String(limit) });
    if (Math.random() < 0.3) params.set('q', FILTER_TERMS[randomInt(FILTER_TERMS.length)]);
    const page = track(await this.api.call('GET', `/api/products?${params.toString()}`));
    if (page.status === 200 && isObject(page.body) && Array.isArray(page.body.items)) {
      this.catalogue.learn(
        page.body.items as ProductSummary[],
        params.has('q') ? undefined : Number(page.body.total),
      );
    }
  }

  /** Browses first while the generator knows no product yet. */
  private async knownProducts(track: Track): Promise<void> {
    if (this.catalogue.size > 0) return;
    const page = track(await this.api.call('GET', '/api/products?limit=100'));
    if (page.status === 200 && isObject(page.body) && Array.isArray(page.body.items)) {
      this.catalogue.learn(page.body.items as ProductSummary[], Number(page.body.total));
    }
  }

  private async view(track: Track): Promise<void> {
    await this.knownProducts(track);
    const id = this.catalogue.any();
    if (!id) return;
    const product = track(await this.api.call('GET', `/api/products/${id}`));
    if (product.status === 200 && isObject(product.body))
      this.catalogue.learn([product.body as unknown as ProductSummary]);
  }

  /** 1–3 lines of 1–2 units, with a fresh Idempotency-Key; 409 out_of_stock is an expected answer. */
  private async order(user: User, track: Track): Promise<void> {
    await this.knownProducts(track);
    const products = this.catalogue.pick(1 + randomInt(3));
    if (products.length === 0) return;
    const lines = products.map((productId) => ({ productId, quantity: 1 + randomInt(2) }));
    const placed = track(
      await this.api.call('POST', '/api/orders', {
        token: user.accessToken,
        json: { lines },
        headers: { 'idempotency-key': randomUUID() },
        expected: (status, code) => status === 409 && code === 'out_of_stock',
      }),
    );
    if (placed.status === 201) {
      for (const line of lines)
        this.catalogue.setStock(
          line.productId,
          (this.catalogue.stockOf(line.productId) ?? 1) - line.quantity,
        );
    } else if (
      placed.code === 'out_of_stock' &&
      isObject(placed.body) &&
      typeof placed.body.productId === 'string'
    ) {
      this.catalogue.setStock(placed.body.productId, Number(placed.body.available ?? 0));
    }
  }

  /** Lists the user's orders and cancels one that is confirmed (if any): its stock goes back. */
  private async cancel(user: User, track: Track): Promise<void> {
    const list = track(await this.api.call('GET', '/api/orders?limit=20', { token: user.accessToken }));
    if (list.status !== 200 || !isObject(list.body) || !Array.isArray(list.body.items)) return;
    const confirmed = (list.body.items as { id: string; status: string }[]).filter(
      (o) => o.status === 'CONFIRMED',
    );
    if (confirmed.length === 0) return;
    const chosen = confirmed[randomInt(confirmed.length)];
    track(
      await this.api.call('POST', `/api/orders/${chosen.id}/cancel`, {
        token: user.accessToken,
        // Another task of the same user may have cancelled it a moment ago.
        expected: (status, code) => status === 409 && code === 'not_cancellable',
      }),
    );
  }

  /** Refresh grant shortly before the access token expires (one at a time per user: tokens rotate). */
  private async ensureFreshToken(user: User, track: Track): Promise<void> {
    if (Date.now() < user.expiresAt - REFRESH_MARGIN_MS) return;
    user.refreshing ??= (async () => {
      let answer = user.refreshToken
        ? track(
            await this.api.call('POST', '/api/oauth/token', {
              form: { grant_type: 'refresh_token', refresh_token: user.refreshToken },
            }),
          )
        : undefined;
      if (answer?.status !== 200) {
        answer = track(
          await this.api.call('POST', '/api/oauth/token', {
            form: { grant_type: 'password', username: user.email, password: user.password },
          }),
        );
      }
      if (answer.status === 200) Object.assign(user, tokensOf(answer.body as TokenAnswer));
    })().finally(() => {
      user.refreshing = undefined;
    });
    await user.refreshing;
  }

  /** Root span (a new trace) for one task; its outcome is the worst of its requests'. */
  private inRootSpan(task: string, fn: (track: Track, span: Span) => Promise<void>): Promise<void> {
    return tracer.startActiveSpan(
      `traffic.${task}`,
      { root: true, kind: SpanKind.INTERNAL, attributes: { 'traffic.task': task } },
      async (span) => {
        const started = performance.now();
        let outcome: Outcome = 'ok';
        let requests = 0;
        const track: Track = (result) => {
          requests++;
          outcome = worse(outcome, result.outcome);
          return result;
        };
        this.stats.inFlight++;
        try {
          await fn(track, span);
        } catch (error) {
          outcome = 'error';
          span.recordException(error instanceof Error ? error : String(error));
          throw error;
        } finally {
          this.stats.inFlight--;
          this.stats.recordTask(task, outcome, performance.now() - started);
          span.setAttributes({ 'traffic.outcome': outcome, 'traffic.requests': requests });
          if (outcome === 'error') span.setStatus({ code: SpanStatusCode.ERROR });
          span.end();
        }
      },
    );
  }
}

type Track = (result: ApiResult) => ApiResult;

const SIGNUP_ATTEMPTS = 3;

/** Up to {@link SIGNUP_ATTEMPTS} calls while the answer is a 5xx or none; the last one is tracked. */
async function retried(track: Track, call: (attempt: number) => Promise<ApiResult>): Promise<ApiResult> {
  for (let attempt = 1; ; attempt++) {
    const result = await call(attempt);
    if (attempt >= SIGNUP_ATTEMPTS || (result.status !== 0 && result.status < 500)) return track(result);
    await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
  }
}

function tokensOf(answer: TokenAnswer): Pick<User, 'accessToken' | 'refreshToken' | 'expiresAt'> {
  return {
    accessToken: answer.access_token,
    refreshToken: answer.refresh_token,
    expiresAt: Date.now() + answer.expires_in * 1000,
  };
}

function describe(result: ApiResult): string {
  if (result.status === 0) return 'nothing (no connection or timeout)';
  return `${result.status}${result.code ? ` ${result.code}` : ''}`;
}
