import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { lazyDependencyUrl } from './lazy-dependencies.js';

type Saslprep = (input: string, opts?: { allowUnassigned?: boolean }) => string;

let real: Saslprep | undefined;

/** `@mongodb-js/saslprep`'s function, loaded on its first call (see lazy-dependencies.ts). */
export function saslprep(input: string, opts?: { allowUnassigned?: boolean }): string {
  real ??= load();
  return real(input, opts);
}

export default saslprep;

function load(): Saslprep {
  const url = lazyDependencyUrl('@mongodb-js/saslprep');
  const require = createRequire(import.meta.url);
  return require(url === undefined ? '@mongodb-js/saslprep' : fileURLToPath(url)) as Saslprep;
}
