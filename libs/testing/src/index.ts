export * from './lab.js';
export * from './processes.js';
