import type { SchemaObject } from '@nestjs/swagger';
import { SERVICE_NAMES } from '#lab/config';

const LATENCY: SchemaObject = {
  type: ['object', 'null'],
  required: ['minMs', 'maxMs'],
  additionalProperties: false,
  properties: {
    minMs: { type: 'integer', minimum: 0, maximum: 60_000 },
    maxMs: { type: 'integer', minimum: 0, maximum: 60_000 },
  },
  description: 'Added delay in ms, uniformly random in [minMs, maxMs]; null for none.',
};

/** OpenAPI schema of a `PUT` body: any subset of the fields. */
export const FAULT_UPDATE_SCHEMA: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  properties: {
    latency: LATENCY,
    errorRatio: {
      type: 'number',
      minimum: 0,
      maximum: 1,
      description: 'Share of requests answered 500 `injected_fault`.',
    },
    unreachable: {
      type: 'array',
      items: { type: 'string', enum: [...SERVICE_NAMES] },
      description: 'Services this one cannot reach.',
    },
    readinessFailing: { type: 'boolean', description: '`/health/ready` answers 503.' },
    memoryMb: {
      type: 'integer',
      minimum: 0,
      maximum: 1024,
      description: 'MiB of memory the service allocates and holds (resident, outside the heap); 0 frees it.',
    },
    eventLoopBlockMs: {
      type: 'integer',
      minimum: 0,
      maximum: 5_000,
      description:
        'Synchronous work (ms) each request does before its handler, blocking the event loop (every other request waits); 0 for none.',
    },
  },
};

/** OpenAPI schema of {@link FaultsView}: the service and all its faults. */
export const FAULTS_VIEW_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['service', 'faults'],
  properties: {
    service: { type: 'string', enum: [...SERVICE_NAMES] },
    faults: {
      type: 'object',
      required: ['latency', 'errorRatio', 'unreachable', 'readinessFailing', 'memoryMb', 'eventLoopBlockMs'],
      properties: FAULT_UPDATE_SCHEMA.properties,
    },
  },
};
