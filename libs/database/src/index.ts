export * from './database.module.js';
export * from './duplicate-key.js';
export * from './object-id.js';
export * from './page-query.dto.js';
export * from './collection-of.js';
