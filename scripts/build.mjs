// Compiles apps/ and libs/ to dist/ with SWC (decorator metadata on, ESM out); type checking
// is `npm run typecheck`. Skips work when no source is newer than the last build.
import { readdir, stat, mkdir, rename, writeFile } from 'node:fs/promises';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformFile } from '@swc/core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'dist');
const isSource = (f) =>
  f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.endsWith('.spec.ts') && !f.endsWith('-spec.ts');

async function* walk(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'test' && entry.name !== 'node_modules') yield* walk(path);
    } else if (isSource(entry.name)) yield path;
  }
}

const started = Date.now();
const files = [];
for (const top of ['apps', 'libs']) for await (const f of walk(join(root, top))) files.push(f);

let built = 0;
await Promise.all(
  files.map(async (file) => {
    const rel = relative(root, file).replace(/\.ts$/, '.js');
    const out = join(outDir, rel);
    const [src, dst] = await Promise.all([stat(file), stat(out).catch(() => undefined)]);
    if (dst && dst.mtimeMs >= src.mtimeMs && !process.argv.includes('--force')) return;
    const { code, map } = await transformFile(file, { sourceFileName: relative(dirname(out), file) });
    await mkdir(dirname(out), { recursive: true });
    if (map) await writeFile(`${out}.map`, map);
    // Written aside, then renamed: a process loading dist/ meanwhile (two spec files run at once, one
    // of them building) sees the old module or the new one, never half of one.
    await writeFile(`${out}.tmp`, `${code}\n//# sourceMappingURL=${rel.split('/').pop()}.map\n`);
    await rename(`${out}.tmp`, out);
    built++;
  }),
);
console.log(`build: ${built}/${files.length} files compiled to dist/ in ${Date.now() - started} ms`);
