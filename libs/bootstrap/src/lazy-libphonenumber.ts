import { requireLazyDependency } from './lazy-dependencies.js';

type ParsePhoneNumber = (...args: unknown[]) => unknown;

let real: ParsePhoneNumber | undefined;

/**
 * What class-validator's `IsPhoneNumber` gets for `libphonenumber-js/max` (see lazy-dependencies.ts): the
 * one function it calls, the module loaded on its first call.
 */
export function parsePhoneNumber(...args: unknown[]): unknown {
  real ??= (requireLazyDependency('libphonenumber-js/max') as { parsePhoneNumber: ParsePhoneNumber })
    .parsePhoneNumber;
  return real(...args);
}
