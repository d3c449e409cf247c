export * from './database.module.js';
export * from './duplicate-key.js';
export * from './page-query.dto.js';
