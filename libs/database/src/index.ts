export * from './database.module.js';
export * from './duplicate-key.js';
