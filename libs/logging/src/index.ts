export * from './lab-logger.js';
export * from './logging.module.js';
export * from './redact.js';
export * from './request-context.js';
export { installRequestLogging } from './request-logging.js';
export { DROPPED_RECORDS_METRIC } from './fluentd-forwarder.js';
