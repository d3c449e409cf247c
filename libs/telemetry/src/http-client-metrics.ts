import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { type SpanContext, TraceFlags, trace } from '@opentelemetry/api';
import { APP_CONFIG, type AppConfig } from '#lab/config';
import { isLabClientCall } from './client-calls.js';
import { methodLabel } from './http-server-telemetry.js';
import { Metrics } from './metrics.js';
import { exemplarOf } from './spans.js';

export const HTTP_CLIENT_DURATION = 'http_client_request_duration_seconds';

/** What undici publishes on its diagnostics channels (only the fields used here). */
interface UndiciRequest {
  origin?: unknown;
  method?: unknown;
  headers?: unknown;
}
interface RequestMessage {
  request: UndiciRequest;
}
interface HeadersMessage extends RequestMessage {
  response: { statusCode: number };
}

interface Pending {
  readonly started: bigint;
  readonly peer: string;
  readonly method: string;
  readonly spanContext: SpanContext | undefined;
}

const TRACEPARENT = /^[\da-f]{2}-([\da-f]{32})-([\da-f]{16})-([\da-f]{2})$/;
/** Distinct origins remembered; past that, peers are worked out per request (a misbehaving caller, not the lab). */
const MAX_PEERS = 256;

/**
 * The histogram of calls to other services (the same one whoever asks first: {@link HttpClientMetrics}, or
 * the HTTP client for its own calls and those a fault fails before undici sees them).
 */
export function httpClientDuration(metrics: Metrics) {
  return metrics.durationHistogram({
    name: HTTP_CLIENT_DURATION,
    help: 'Duration of HTTP calls to other services, until the response headers.',
    labelNames: ['peer_service', 'method', 'status_code'],
  });
}

/**
 * `http_client_request_duration_seconds{peer_service, method, status_code}`: time from an undici request
 * to its response headers ("error" when none came), with an exemplar of its client span. Read from
 * undici's diagnostics channels, so any caller (`fetch`, undici's `request`) is measured without changing
 * it; the lab's HTTP client measures its own calls (`ClientCall`), which are left out here.
 */
@Injectable()
export class HttpClientMetrics implements OnModuleInit, OnModuleDestroy {
  private readonly duration;
  private readonly pending = new WeakMap<UndiciRequest, Pending>();
  private readonly peers = new Map<string, string>();

  constructor(@Inject(APP_CONFIG) config: AppConfig, metrics: Metrics) {
    this.duration = httpClientDuration(metrics);
    for (const [service, url] of Object.entries(config.urls)) {
      const origin = originOf(url);
      if (origin) this.peers.set(origin, service);
      // Each upstream's failed calls exist from the start, at 0: "Failed calls between services" shows
      // 0 on a quiet lab rather than no data until the first failure.
      if (service !== config.service)
        this.duration.zero({ peer_service: service, method: 'GET', status_code: 'error' });
    }
  }

  onModuleInit(): void {
    subscribe('undici:request:create', this.onCreate);
    subscribe('undici:request:headers', this.onHeaders);
    subscribe('undici:request:error', this.onError);
  }

  onModuleDestroy(): void {
    unsubscribe('undici:request:create', this.onCreate);
    unsubscribe('undici:request:headers', this.onHeaders);
    unsubscribe('undici:request:error', this.onError);
  }

  /** The lab service at that origin, else the host: bounded by the services a process calls. */
  peerOf(origin: unknown): string {
    const key = String(origin);
    const known = this.peers.get(key);
    if (known) return known;
    const normalised = originOf(key);
    const peer =
      (normalised && this.peers.get(normalised)) ?? (normalised ? new URL(normalised).host : 'unknown');
    if (this.peers.size < MAX_PEERS) this.peers.set(key, peer);
    return peer;
  }

  private readonly onCreate = (message: unknown): void => {
    // The lab's HTTP client measures its own calls (ClientCall).
    if (isLabClientCall()) return;
    const { request } = message as RequestMessage;
    this.pending.set(request, {
      started: process.hrtime.bigint(),
      peer: this.peerOf(request.origin),
      method: methodLabel(String(request.method)),
      // The undici instrumentation, subscribed first, has injected its client span as `traceparent`.
      spanContext: injectedSpanContext(request.headers) ?? trace.getActiveSpan()?.spanContext(),
    });
  };

  private readonly onHeaders = (message: unknown): void => {
    const { request, response } = message as HeadersMessage;
    this.finish(request, String(response.statusCode));
  };

  private readonly onError = (message: unknown): void => {
    this.finish((message as RequestMessage).request, 'error');
  };

  private finish(request: UndiciRequest, status: string): void {
    const pending = this.pending.get(request);
    if (!pending) return;
    this.pending.delete(request);
    this.duration.observe({
      value: Number(process.hrtime.bigint() - pending.started) / 1e9,
      labels: { peer_service: pending.peer, method: pending.method, status_code: status },
      exemplarLabels: exemplarOf(pending.spanContext),
    });
  }
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** The span a `traceparent` request header names (undici keeps headers as `[name, value, …]` or raw text). */
export function injectedSpanContext(headers: unknown): SpanContext | undefined {
  let value: unknown;
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length - 1; i += 2) {
      if (typeof headers[i] === 'string' && headers[i].toLowerCase() === 'traceparent')
        value = headers[i + 1];
    }
  } else if (typeof headers === 'string') {
    value = /(?:^|\r\n)traceparent:\s*([^\r\n]+)/i.exec(headers)?.[1];
  }
  const match = typeof value === 'string' ? TRACEPARENT.exec(value.trim()) : null;
  if (!match) return undefined;
  return {
    traceId: match[1],
    spanId: match[2],
    traceFlags: Number.parseInt(match[3], 16) & TraceFlags.SAMPLED,
    isRemote: false,
  };
}
