import 'reflect-metadata';
import { HttpException, Inject, Injectable } from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import {
  type Attributes,
  context,
  createContextKey,
  type Span,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { ATTR_ERROR_TYPE, ATTR_HTTP_ROUTE } from '@opentelemetry/semantic-conventions';
import { isObservable, Observable } from 'rxjs';
import { LAB_TRACER, recordError } from './spans.js';

/** The route template of the request being served, put in the context by the server span's hook. */
export const ROUTE_KEY = createContextKey('observability-lab http.route');

const WRAPPED = Symbol('observability-lab.handler-span');

type Handler = ((...args: unknown[]) => unknown) & { [WRAPPED]?: true };

/** The HTTP status an exception leaves as (what the problem-details filter answers). */
export function statusOf(error: unknown): number {
  if (error instanceof HttpException) return error.getStatus();
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof statusCode === 'number' && statusCode >= 400 && statusCode < 600 ? statusCode : 500;
}

function fail(span: Span, error: unknown): void {
  const isError = statusOf(error) >= 500;
  recordError(span, error, isError);
  if (isError) span.setAttribute(ATTR_ERROR_TYPE, error instanceof Error ? error.name : 'Error');
}

/**
 * A route handler that runs in its own span, `<Controller>.<handler>`: child of the HTTP server span,
 * parent of what the handler calls. An exception is recorded on it; the status is ERROR only for a 5xx
 * answer, as OpenTelemetry's HTTP conventions say for servers (a 404 or 409 is the client's problem).
 */
export function withHandlerSpan(
  tracer: Tracer,
  controller: string,
  method: string,
  handler: Handler,
): Handler {
  const name = `${controller}.${method}`;
  const traced: Handler = function (this: unknown, ...args: unknown[]): unknown {
    const parent = context.active();
    const attributes: Attributes = { 'nestjs.controller': controller, 'nestjs.handler': method };
    const route = parent.getValue(ROUTE_KEY);
    if (typeof route === 'string') attributes[ATTR_HTTP_ROUTE] = route;
    const span = tracer.startSpan(name, { attributes }, parent);
    const active = trace.setSpan(parent, span);
    let result: unknown;
    try {
      result = context.with(active, () => handler.apply(this, args));
    } catch (error) {
      fail(span, error);
      span.end();
      throw error;
    }
    if (result instanceof Promise) {
      return result.then(
        (value: unknown) => {
          span.end();
          return value;
        },
        (error: unknown) => {
          fail(span, error);
          span.end();
          throw error;
        },
      );
    }
    if (isObservable(result)) {
      const source = result;
      return new Observable((subscriber) => {
        const subscription = context.with(active, () =>
          source.subscribe({
            next: (value) => subscriber.next(value),
            error: (error: unknown) => {
              fail(span, error);
              span.end();
              subscriber.error(error);
            },
            complete: () => {
              span.end();
              subscriber.complete();
            },
          }),
        );
        return () => subscription.unsubscribe();
      });
    }
    span.end();
    return result;
  };
  // Nest reads routes, guards, status codes… from metadata on the handler function itself.
  for (const key of Reflect.getMetadataKeys(handler))
    Reflect.defineMetadata(key, Reflect.getMetadata(key, handler), traced);
  Object.defineProperty(traced, 'name', { value: handler.name });
  traced[WRAPPED] = true;
  return traced;
}

/**
 * Puts every HTTP route handler of the application in a span. {@link wrapControllers} wraps the
 * controllers' methods once the application is created, before Nest registers its routes (it is called
 * by `TelemetryModule.setup()`), rather than using an interceptor: a global interceptor alone (even one
 * doing nothing) cost a fifth of a hello endpoint's throughput, for the observables Nest then builds
 * around every handler. Idempotent (a controller used by several applications in one process is
 * wrapped once).
 */
@Injectable()
export class HandlerSpans {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    @Inject(LAB_TRACER) private readonly tracer: Tracer,
  ) {}

  wrapControllers(): void {
    for (const { metatype } of this.discovery.getControllers()) {
      if (typeof metatype !== 'function') continue;
      const prototype = metatype.prototype as Record<string, unknown>;
      for (const method of this.scanner.getAllMethodNames(prototype)) {
        const handler = prototype[method];
        if (typeof handler !== 'function' || (handler as Handler)[WRAPPED]) continue;
        if (Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue;
        prototype[method] = withHandlerSpan(this.tracer, metatype.name, method, handler as Handler);
      }
    }
  }
}
