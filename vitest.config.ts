import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { SERVICE_ENV } from './scripts/service-flags.mjs';

/**
 * The files that take minutes (the whole lab, started and driven for real), longest first, as measured:
 * they start first, so the suite does not end waiting for one of them that started last. A clean checkout
 * (CI) has no durations of earlier runs, and vitest would order by file size otherwise.
 */
const LONGEST_FIRST = [
  'test/infra/scenarios.e2e-spec.ts',
  'test/crash.e2e-spec.ts',
  'test/restart.e2e-spec.ts',
  'test/commerce.e2e-spec.ts',
  'test/login-abuse.e2e-spec.ts',
  'test/start-lifecycle.e2e-spec.ts',
  'test/resilience.e2e-spec.ts',
  'test/start-rabbitmq.e2e-spec.ts',
  'test/events.e2e-spec.ts',
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => {
      const index = LONGEST_FIRST.findIndex((path) => file.moduleId.endsWith(`/${path}`));
      return index === -1 ? LONGEST_FIRST.length : index;
    };
    // Array.prototype.sort is stable: the rest keep vitest's own order.
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

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
    // Two files at a time, also on 2 cores (vitest's default there is one): the e2e specs spend most of
    // their time waiting on real processes (alerts firing, breakers, restarts), so the suite takes
    // ~13 min instead of ~21, the scenarios file beside the others.
    maxWorkers: 2,
    sequence: { sequencer: LongestFirst },
    // Services created inside the test process log to its stdout, so only warnings and errors there.
    // No Prometheus and Alertmanager beside the labs the specs start (npm start would run them when
    // installed, on fixed ports): the specs that want them say so (startLab's `monitoring` option).
    // The workers get the services' fixed malloc mmap threshold (scripts/service-flags.mjs; passed in their
    // environment when they are spawned, as glibc reads it once at start): the memory fault's specs measure
    // memory given back to the system as a service does, not after glibc raised its threshold in a worker.
    env: {
      LOG_LEVEL: 'warn',
      LAB_MONITORING: 'off',
      MALLOC_MMAP_THRESHOLD_: SERVICE_ENV.MALLOC_MMAP_THRESHOLD_,
    },
  },
});
