import { ERROR_STATUS, type ErrorCode, isErrorCode } from './error-codes.js';

export interface LabErrorOptions {
  /** Fields the answer carries next to `code` (`productId`, `available`, `errors`). */
  readonly details?: Readonly<Record<string, unknown>>;
  /** Seconds the client should wait before trying again: the answer's `Retry-After`. */
  readonly retryAfterSeconds?: number;
  readonly cause?: unknown;
}

/**
 * A failure the API answers with a code: services throw `new LabError('out_of_stock', …)`, and the one
 * problem+json filter turns the code into the status ({@link ERROR_STATUS}), the body and `Retry-After`.
 * The message is the answer's `detail`: written for the client, never a stack trace.
 */
export class LabError extends Error {
  readonly details: Readonly<Record<string, unknown>>;
  readonly retryAfterSeconds?: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: LabErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LabError';
    this.details = options.details ?? {};
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** The HTTP status its code is answered with. */
  get status(): number {
    return ERROR_STATUS[this.code];
  }

  /** What an answer recorded for a replay holds (`{message, code, …details}`); {@link fromRecord} reverses it. */
  toRecord(): Record<string, unknown> {
    return { message: this.message, code: this.code, ...this.details };
  }

  /** The error a recorded answer was made from; undefined for a record without a known code. */
  static fromRecord(record: Readonly<Record<string, unknown>>): LabError | undefined {
    const { message, code, ...details } = record;
    if (!isErrorCode(code)) return undefined;
    return new LabError(code, typeof message === 'string' ? message : '', { details });
  }
}

/** The code of an error a service answered with (for metric labels), or undefined for any other error. */
export function errorCode(error: unknown): ErrorCode | undefined {
  return error instanceof LabError ? error.code : undefined;
}
