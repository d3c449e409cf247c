export * from './order-event.js';
export * from './order-events.topology.js';
