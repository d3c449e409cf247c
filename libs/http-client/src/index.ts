export * from './http-client.module.js';
export * from './service-client.js';
