import { AsyncLocalStorage } from 'node:async_hooks';

/** What every log line written while serving a request knows about it, without being passed around. */
export interface RequestContext {
  readonly requestId: string;
  /** Ids of the request's server span, for records written where that span is no longer active. */
  readonly traceId?: string;
  readonly spanId?: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Runs `fn` (and everything it starts, across awaits) inside `context`. */
export function runWithRequestContext<T>(context: RequestContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** The context of the request being served, if any. */
export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}
