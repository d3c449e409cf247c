export * from './fault-state.js';
export * from './fault-injection.js';
export * from './fault-update.js';
export * from './faults.controller.js';
export * from './faults.module.js';
export * from './faults.schema.js';
export * from './faults.service.js';
