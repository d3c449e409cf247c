import { Readable } from 'node:stream';
import type { ClientCall } from '#lab/telemetry';
import type { Dispatcher } from 'undici';

/** An answer's status and headers, its body still arriving. */
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: ResponseBody;
}

/** Past this, a body being discarded is not read to its end: its connection is closed instead. */
const DISCARD_LIMIT_BYTES = 128 * 1024;

/** Past this, a body nobody has asked for yet waits in the socket (the connection pauses), not in memory. */
const UNCLAIMED_LIMIT_BYTES = 64 * 1024;

const noop = () => undefined;

/**
 * An answer's body as undici delivers it, collected as it comes until its reader says how it wants it:
 * `whole()` in one buffer once it is in (one chunk is passed on as it is, nothing copied), `stream()` as a
 * `Readable` with backpressure (an answer too large to hold), `json()`, `text()`, or `dump()` to discard it
 * so that its connection can be reused. Read it one of these ways, once. Without undici's `request()`
 * body, no stream, no consume machinery and no copy stand between a small answer and its reader.
 */
export class ResponseBody {
  private chunks: Buffer[] = [];
  private size = 0;
  private ended = false;
  private error: Error | undefined = undefined;
  private waiting: { resolve: (body: Buffer) => void; reject: (error: Error) => void } | undefined =
    undefined;
  private readable: Readable | undefined = undefined;
  private discarding = false;
  private paused = false;

  constructor(private readonly controller: Dispatcher.DispatchController) {}

  /** The whole body, once it is in. */
  whole(): Promise<Buffer> {
    if (this.error) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve(this.joined());
    const whole = new Promise<Buffer>((resolve, reject) => (this.waiting = { resolve, reject }));
    this.claimed();
    return whole;
  }

  /** The body as a stream: what arrived so far, then the rest as it comes (the connection pauses while it is not read). */
  stream(): Readable {
    const readable = new Readable({
      read: () => this.controller.resume(),
      destroy: (error, callback) => {
        // A reader that stops early (its client went away) abandons the rest of the answer.
        if (!this.ended && !this.error)
          this.controller.abort(error ?? new Error('the body was not read to its end'));
        callback(error);
      },
    });
    this.readable = readable;
    for (const chunk of this.chunks) readable.push(chunk);
    this.chunks = [];
    if (this.error) readable.destroy(this.error);
    else if (this.ended) readable.push(null);
    this.claimed();
    return readable;
  }

  async json(): Promise<unknown> {
    return JSON.parse((await this.whole()).toString('utf8')) as unknown;
  }

  async text(): Promise<string> {
    return (await this.whole()).toString('utf8');
  }

  /** Discards the body; resolves once it is gone (read to its end, or its connection closed). */
  dump(): Promise<void> {
    this.discarding = true;
    this.chunks = [];
    if (this.size > DISCARD_LIMIT_BYTES) this.abandon();
    return this.whole().then(noop, noop);
  }

  /** @internal A chunk from undici. */
  push(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.readable) {
      if (!this.readable.push(chunk)) this.controller.pause();
    } else if (!this.discarding) {
      this.chunks.push(chunk);
      // Nobody has said yet how to read it (a caller awaiting something else first): past a limit the
      // rest waits in the socket, as it would behind a stream, instead of piling up here.
      if (!this.waiting && !this.paused && this.size > UNCLAIMED_LIMIT_BYTES) {
        this.paused = true;
        this.controller.pause();
      }
    } else if (this.size > DISCARD_LIMIT_BYTES) {
      this.abandon();
    }
  }

  /** @internal The body is complete. */
  end(): void {
    this.ended = true;
    if (this.readable) this.readable.push(null);
    else if (this.waiting) this.waiting.resolve(this.joined());
    this.waiting = undefined;
  }

  /** @internal The body broke off (the connection dropped, its timeout passed, or it was abandoned). */
  fail(error: Error): void {
    if (this.ended || this.error) return;
    this.error = error;
    if (this.readable) this.readable.destroy(error);
    else this.waiting?.reject(error);
    this.waiting = undefined;
  }

  /** A reader has said how it reads the body: the rest may come. */
  private claimed(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.ended && !this.error) this.controller.resume();
  }

  private abandon(): void {
    this.controller.abort(new Error('a discarded body too large to read to its end'));
  }

  private joined(): Buffer {
    const { chunks } = this;
    this.chunks = [];
    if (this.discarding || chunks.length === 0) return Buffer.alloc(0);
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.size);
  }
}

/**
 * One attempt of a call as an undici dispatch handler: `answer` resolves once the status and headers
 * are in (a 1xx is skipped), with the body as a {@link ResponseBody}, and rejects with undici's error when
 * none came. `abandon()` aborts it at any point: at once when it is still queued, else through undici.
 */
export class UpstreamExchange implements Dispatcher.DispatchHandler {
  readonly answer: Promise<RawResponse>;
  private resolve!: (response: RawResponse) => void;
  private reject!: (error: Error) => void;
  private controller: Dispatcher.DispatchController | undefined = undefined;
  private abandoned: Error | undefined = undefined;
  private body: ResponseBody | undefined = undefined;

  /** `call`: its client span and duration, told how the exchange went. */
  constructor(private readonly call?: ClientCall) {
    this.answer = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  abandon(reason: Error): void {
    if (this.controller) {
      this.controller.abort(reason);
    } else if (!this.abandoned) {
      // Not written yet (queued behind busy connections, or connecting): undici aborts it when its turn comes.
      this.abandoned = reason;
      this.reject(reason);
    }
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abandoned) controller.abort(this.abandoned);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (statusCode < 200) return;
    this.call?.answered(statusCode);
    this.body = new ResponseBody(controller);
    this.resolve({ status: statusCode, headers, body: this.body });
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.body?.push(chunk);
  }

  onResponseEnd(): void {
    this.body?.end();
    this.call?.ended();
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, error: Error): void {
    this.call?.failed(error);
    if (this.body) this.body.fail(error);
    else this.reject(error);
  }
}
