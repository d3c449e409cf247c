export * from './auth.decorators.js';
export * from './auth.module.js';
export * from './jwks-key-provider.js';
export * from './jwt-auth.guard.js';
export * from './principal.js';
export * from './scopes.guard.js';
export * from './scopes.js';
export * from './service-token.provider.js';
