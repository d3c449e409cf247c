export * from './contract.js';
export * from './eventually.js';
export * from './fluentd-receiver.js';
export * from './lab.js';
export * from './otlp-receiver.js';
export * from './processes.js';
export * from './zipkin-receiver.js';
export * from './rabbitmq.js';
