import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

// SWC instead of Vite's default transform: Nest's dependency injection needs decorator metadata.
// The `source` condition makes `#lab/*` imports resolve to the libs' TypeScript sources.
export default defineConfig({
  plugins: [swc.vite({ swcrc: true })],
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['{apps,libs,test}/**/*.{spec,e2e-spec}.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Services created inside the test process log to its stdout, so only warnings and errors there.
    // No Prometheus and Alertmanager beside the labs the specs start (npm start would run them when
    // installed, on fixed ports): the specs that want them say so (startLab's `monitoring` option).
    env: { LOG_LEVEL: 'warn', LAB_MONITORING: 'off' },
  },
});
