import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import type { Outcome, Stats } from './stats.js';

export interface ApiResult {
  /** HTTP status, or 0 when no answer came (timeout, connection error). */
  readonly status: number;
  /** Parsed JSON body (problem details included), if any. */
  readonly body: unknown;
  /** `code` of a problem+json answer (`out_of_stock`, `circuit_open`, `injected_fault`…). */
  readonly code?: string;
  readonly outcome: Outcome;
}

export interface CallOptions {
  readonly token?: string;
  readonly json?: unknown;
  readonly form?: Record<string, string>;
  readonly headers?: Record<string, string>;
  /** Answers that are part of the scenario rather than errors (e.g. 409 out_of_stock). */
  readonly expected?: (status: number, code: string | undefined) => boolean;
}

/**
 * The gateway as the generator calls it: undici requests (so the preloaded undici instrumentation makes
 * a client span per request, child of the task's span, and propagates `traceparent`), every answer
 * counted in {@link Stats}.
 */
export class LabApi {
  private readonly agent: Agent;

  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs: number,
    private readonly stats: Stats,
  ) {
    this.agent = new Agent({ connections: 256, keepAliveTimeout: 10_000, connect: { timeout: timeoutMs } });
  }

  async call(method: 'GET' | 'POST', path: string, options: CallOptions = {}): Promise<ApiResult> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(options.form).toString();
    }
    const started = performance.now();
    let result: ApiResult;
    let answer: string;
    try {
      const response = await request(`${this.baseUrl}${path}`, {
        method,
        headers,
        body,
        dispatcher: this.agent,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const text = await response.body.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      const code =
        typeof parsed === 'object' && parsed !== null && typeof Reflect.get(parsed, 'code') === 'string'
          ? (Reflect.get(parsed, 'code') as string)
          : undefined;
      const status = response.statusCode;
      result = { status, body: parsed, code, outcome: classify(status, code, options.expected) };
      answer = status >= 400 && code ? `${status} ${code}` : String(status);
    } catch (error) {
      answer = failureName(error);
      result = { status: 0, body: undefined, outcome: 'error' };
    }
    this.stats.recordRequest(answer, result.outcome, performance.now() - started);
    return result;
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

export function classify(
  status: number,
  code: string | undefined,
  expected?: (status: number, code: string | undefined) => boolean,
): Outcome {
  if (status >= 200 && status < 400) return 'ok';
  if (status === 429) return 'rate_limited';
  if (expected?.(status, code)) return 'expected';
  return 'error';
}

/** `timeout`, or the error code of a failed connection (`ECONNREFUSED`, `UND_ERR_SOCKET`…). */
export function failureName(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError' || error.name === 'AbortError') return 'timeout';
    const code = Reflect.get(error, 'code') ?? Reflect.get(error.cause ?? {}, 'code');
    if (typeof code === 'string') return code === 'UND_ERR_CONNECT_TIMEOUT' ? 'timeout' : code;
    return error.name;
  }
  return 'error';
}
