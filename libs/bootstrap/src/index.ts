export * from './bootstrap.js';
export * from './problem-details.js';
export * from './validation.js';
