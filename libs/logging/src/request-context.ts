import { AsyncLocalStorage } from 'node:async_hooks';
import { context, createContextKey } from '@opentelemetry/api';

/** What every log line written while serving a request knows about it, without being passed around. */
export interface RequestContext {
  readonly requestId: string;
  /** Ids of the request's server span, for records written where that span is no longer active. */
  readonly traceId?: string;
  readonly spanId?: string;
}

/**
 * The request context rides in the active OpenTelemetry context, whose context manager (an
 * `AsyncLocalStorage`) already follows every await and callback of the request: a second
 * `AsyncLocalStorage` of our own would make every promise created anywhere in the process pay its
 * promise hook again (about 120 ns and a property each; ~230 promises per order in the order service).
 * Without a context manager (`OTEL_SDK_DISABLED=true`, or before one is registered) `context.with` does
 * not carry anything, so the context then falls back to a storage of its own, which costs nothing
 * until it is first used.
 */
const REQUEST_CONTEXT = createContextKey('lab.logging.request_context');
const fallback = new AsyncLocalStorage<RequestContext>();

/** Runs `fn` (and everything it starts, across awaits) inside `requestContext`. */
export function runWithRequestContext<T>(requestContext: RequestContext, fn: () => T): T {
  const carrier = context.active().setValue(REQUEST_CONTEXT, requestContext);
  return context.with(carrier, () =>
    context.active() === carrier ? fn() : fallback.run(requestContext, fn),
  );
}

/** The context of the request being served, if any. */
export function currentRequestContext(): RequestContext | undefined {
  const carried = context.active().getValue(REQUEST_CONTEXT);
  return isRequestContext(carried) ? carried : fallback.getStore();
}

function isRequestContext(value: unknown): value is RequestContext {
  return typeof value === 'object' && value !== null && 'requestId' in value;
}
