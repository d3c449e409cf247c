import { requireLazyDependency } from './lazy-dependencies.js';

type Colorspace = (namespace: string, delimiter?: string) => string;

let real: Colorspace | undefined;

/**
 * What `@dabh/diagnostics`' ANSI namespace modifier gets for `@so-ric/colorspace` (see
 * lazy-dependencies.ts): the function, the module loaded on its first call.
 */
function colorspace(namespace: string, delimiter?: string): string {
  real ??= requireLazyDependency('@so-ric/colorspace') as Colorspace;
  return real(namespace, delimiter);
}

// `require()` of this module returns the function itself (the export named 'module.exports'), as the
// package's does.
export { colorspace as 'module.exports' };
