import path from 'node:path';
import { fileURLToPath } from 'node:url';
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const root = path.dirname(fileURLToPath(import.meta.url));

/**
 * The libs in layers, lowest first (the picture in docs/architecture.md): a lib's code imports only
 * libs of lower layers, so the libs form no cycle. A new lib gets a layer here before it can be used.
 */
export const LIB_LAYERS = [
  ['config', 'errors', 'embedded-mongo', 'testing'],
  ['telemetry', 'database'],
  ['logging', 'events', 'auth'],
  ['openapi'],
  ['faults'],
  ['http-client', 'health', 'observability'],
  ['bootstrap'],
];
const layerOf = new Map(LIB_LAYERS.flatMap((libs, layer) => libs.map((lib) => [lib, layer])));

/** `{kind: 'apps' | 'libs', name}` of a path inside an app or a lib. */
function ownerOf(file) {
  const [kind, name, ...rest] = path.relative(root, file).split(path.sep);
  return (kind === 'apps' || kind === 'libs') && name && rest.length > 0 ? { kind, name } : undefined;
}
const isTest = (file) =>
  /\.(spec|e2e-spec)\.ts$/.test(file) || path.relative(root, file).split(path.sep).includes('test');

/**
 * Apps never import apps (they talk over HTTP), libs never import apps, an app reaches a lib only
 * through `#lab/<lib>`, a lib never imports its own barrel, only tests import `#lab/testing`, and a
 * lib's code imports only lower layers ({@link LIB_LAYERS}). Tests may import any lib (a lib's spec
 * may boot a whole service), never an app other than their own.
 */
const boundaries = {
  meta: {
    type: 'problem',
    schema: [],
    messages: {
      appImportsApp: 'apps never import other apps ({{from}} imports {{to}}): they talk over HTTP',
      libImportsApp: 'libs never import apps ({{from}} imports {{to}})',
      relativeIntoLib: 'import {{to}} through #lab/{{name}}, not by a relative path',
      ownBarrel: 'inside {{from}}, import the file itself, not its own barrel #lab/{{name}}',
      testingOutsideTests: 'only tests import #lab/testing',
      unknownLib:
        'lib {{name}} has no layer: add it to LIB_LAYERS in eslint.config.js (and the picture in docs/architecture.md)',
      upwards:
        'libs/{{from}} (layer {{fromLayer}}) may import only lower layers, not #lab/{{name}} (layer {{toLayer}}): see LIB_LAYERS in eslint.config.js',
    },
  },
  create(context) {
    const file = context.filename;
    const from = ownerOf(file);
    if (!from) return {};
    const test = isTest(file);
    const check = (node, source) => {
      if (typeof source !== 'string') return;
      const alias = /^#lab\/([^/]+)/.exec(source);
      const to = alias
        ? { kind: 'libs', name: alias[1] }
        : source.startsWith('.')
          ? ownerOf(path.resolve(path.dirname(file), source))
          : undefined;
      if (!to) return;
      const data = { from: `${from.kind}/${from.name}`, to: `${to.kind}/${to.name}`, name: to.name };
      if (to.kind === from.kind && to.name === from.name) {
        if (alias) context.report({ node, messageId: 'ownBarrel', data });
        return;
      }
      if (to.kind === 'apps') {
        context.report({ node, messageId: from.kind === 'apps' ? 'appImportsApp' : 'libImportsApp', data });
        return;
      }
      if (!alias && !test) return context.report({ node, messageId: 'relativeIntoLib', data });
      if (to.name === 'testing' && !test)
        return context.report({ node, messageId: 'testingOutsideTests', data });
      if (from.kind !== 'libs' || test) return;
      const fromLayer = layerOf.get(from.name);
      const toLayer = layerOf.get(to.name);
      if (fromLayer === undefined || toLayer === undefined) {
        context.report({
          node,
          messageId: 'unknownLib',
          data: { name: fromLayer === undefined ? from.name : to.name },
        });
      } else if (toLayer >= fromLayer) {
        context.report({
          node,
          messageId: 'upwards',
          data: { from: from.name, fromLayer, name: to.name, toLayer },
        });
      }
    };
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
    };
  },
};

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.data/'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    languageOptions: { globals: globals.node },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['apps/**/*.ts', 'libs/**/*.ts'],
    plugins: { lab: { rules: { boundaries } } },
    rules: { 'lab/boundaries': 'error' },
  },
);
