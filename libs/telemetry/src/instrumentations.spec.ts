import { trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { isLabClientCall } from './client-calls.js';
import { dropPropagationHeaders, labInstrumentations } from './instrumentations.js';

describe(dropPropagationHeaders.name, () => {
  const span = trace.wrapSpanContext({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 1 });

  it("removes a caller's traceparent, tracestate and baggage before the instrumentation adds its own", () => {
    const request = {
      headers: [
        'accept',
        'application/json',
        'TraceParent',
        '00-x-y-01',
        'tracestate',
        'a=b',
        'baggage',
        'k=v',
        'x-request-id',
        'r1',
      ],
    };
    dropPropagationHeaders(span, request);
    expect(request.headers).toEqual(['accept', 'application/json', 'x-request-id', 'r1']);
  });

  it('handles headers kept as raw text (older undici)', () => {
    const request = { headers: 'accept: */*\r\ntraceparent: 00-x-y-01\r\nx-request-id: r1\r\n' };
    dropPropagationHeaders(span, request);
    expect(request.headers).toBe('accept: */*\r\nx-request-id: r1\r\n');
  });

  it("keeps the caller's headers when there is no span to propagate instead", () => {
    const request = { headers: ['traceparent', '00-x-y-01'] };
    dropPropagationHeaders(
      trace.wrapSpanContext({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 }),
      request,
    );
    expect(request.headers).toEqual(['traceparent', '00-x-y-01']);
  });
});

describe(labInstrumentations.name, () => {
  it("leaves the lab's HTTP client's calls to it (ClientCall makes their spans): no call has two", () => {
    const instrumentations = labInstrumentations();
    for (const instrumentation of instrumentations) instrumentation.disable();
    const undici = instrumentations.find((i) => i instanceof UndiciInstrumentation);
    expect(undici?.getConfig()).toMatchObject({ ignoreRequestHook: isLabClientCall });
  });
});
