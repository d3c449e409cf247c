// Options of the traffic generator: flags win over TRAFFIC_* variables, which win over the defaults.
// A CLI, not a service: it reads its own few variables instead of going through libs/config.

export const TASKS = ['browse', 'view', 'order', 'cancel', 'profile'] as const;
export type TaskName = (typeof TASKS)[number];

/** browse ≫ view ≫ order ≫ cancel, plus a look at one's profile (the customer service). */
export const DEFAULT_WEIGHTS: Readonly<Record<TaskName, number>> = {
  browse: 50,
  view: 25,
  order: 12,
  cancel: 5,
  profile: 8,
};

export interface TrafficOptions {
  /** Gateway base URL, without a trailing slash. */
  readonly baseUrl: string;
  /** Tasks started per second, whatever the answers take (open loop). */
  readonly rate: number;
  /** 0: until Ctrl-C (SIGINT) or SIGTERM. */
  readonly durationSeconds: number;
  readonly users: number;
  /** Tasks in flight at most; a task due beyond it is skipped and counted. */
  readonly maxInFlight: number;
  readonly weights: Readonly<Record<TaskName, number>>;
  /** Per request. */
  readonly timeoutMs: number;
  readonly progressSeconds: number;
}

export class OptionsError extends Error {}

interface OptionSpec {
  readonly flag: string;
  readonly env: string;
  readonly help: string;
}

const SPECS = {
  rate: { flag: '--rate', env: 'TRAFFIC_RATE', help: 'tasks started per second (open loop)   default 5' },
  duration: {
    flag: '--duration',
    env: 'TRAFFIC_DURATION',
    help: 'seconds to run, 0 = until Ctrl-C        default 0',
  },
  users: { flag: '--users', env: 'TRAFFIC_USERS', help: 'users signed up at start                default 5' },
  baseUrl: {
    flag: '--base-url',
    env: 'TRAFFIC_BASE_URL',
    help: 'the gateway                             default http://localhost:3000',
  },
  maxInFlight: {
    flag: '--max-in-flight',
    env: 'TRAFFIC_MAX_IN_FLIGHT',
    help: 'tasks in flight at most (then skipped)  default 100',
  },
  weights: {
    flag: '--weights',
    env: 'TRAFFIC_WEIGHTS',
    help: `task mix                                default ${formatWeights(DEFAULT_WEIGHTS)}`,
  },
  timeout: {
    flag: '--timeout',
    env: 'TRAFFIC_TIMEOUT_MS',
    help: 'per request, in milliseconds            default 10000',
  },
  progress: {
    flag: '--progress',
    env: 'TRAFFIC_PROGRESS_SECONDS',
    help: 'seconds between progress lines          default 5',
  },
} as const satisfies Record<string, OptionSpec>;

export const USAGE = [
  'Usage: npm run traffic -- [options]     (or set the TRAFFIC_* variables)',
  '',
  'Signs up users through the gateway, then runs a weighted mix of tasks (browse the catalogue, view a',
  'product, place an order, cancel an order, read the profile) at a fixed rate, and prints a summary.',
  '',
  ...Object.values(SPECS).map((s) => `  ${`${s.flag} <v>`.padEnd(20)} ${s.env.padEnd(25)} ${s.help}`),
  `  ${'-h, --help'.padEnd(20)}`,
].join('\n');

export function formatWeights(weights: Readonly<Record<TaskName, number>>): string {
  return TASKS.map((task) => `${task}=${weights[task]}`).join(',');
}

/** `browse=50,order=10`: tasks not named keep their default weight; 0 leaves a task out. */
export function parseWeights(text: string): Record<TaskName, number> {
  const weights: Record<TaskName, number> = { ...DEFAULT_WEIGHTS };
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const match = /^([a-z]+)\s*[=:]\s*(\d+(?:\.\d+)?)$/.exec(part);
    if (!match || !(TASKS as readonly string[]).includes(match[1])) {
      throw new OptionsError(
        `weights: "${part}" is not <task>=<number> with task one of ${TASKS.join(', ')}`,
      );
    }
    weights[match[1] as TaskName] = Number(match[2]);
  }
  if (TASKS.every((task) => weights[task] === 0)) throw new OptionsError('weights: at least one must be > 0');
  return weights;
}

/** Flags as `--name value` or `--name=value`. Returns undefined for `--help`. */
export function parseOptions(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): TrafficOptions | undefined {
  const flags = new Map<string, string>();
  const known = new Set<string>(Object.values(SPECS).map((s) => s.flag));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h' || arg === '--help') return undefined;
    const [name, inline] = arg.includes('=')
      ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
      : [arg, undefined];
    if (!known.has(name)) throw new OptionsError(`unknown option ${arg} (see --help)`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new OptionsError(`${name} needs a value`);
    flags.set(name, value);
  }
  const raw = (spec: OptionSpec): { value: string; from: string } | undefined => {
    const flag = flags.get(spec.flag);
    if (flag !== undefined) return { value: flag, from: spec.flag };
    const fromEnv = env[spec.env]?.trim();
    return fromEnv ? { value: fromEnv, from: spec.env } : undefined;
  };
  const number = (spec: OptionSpec, fallback: number, min: number, max: number, integer = false): number => {
    const given = raw(spec);
    if (!given) return fallback;
    // Blank is not 0 (Number('') is): `--duration=` must not mean "until Ctrl-C".
    const value = given.value.trim() === '' ? NaN : Number(given.value);
    if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
      throw new OptionsError(
        `${given.from} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max} (got "${given.value}")`,
      );
    }
    return value;
  };

  const base = raw(SPECS.baseUrl);
  const baseUrl = (base?.value ?? 'http://localhost:3000').replace(/\/+$/, '');
  let parsed: URL | undefined;
  try {
    parsed = new URL(baseUrl);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !/^https?:$/.test(parsed.protocol)) {
    throw new OptionsError(`${base?.from ?? '--base-url'} must be an http(s) URL (got "${baseUrl}")`);
  }
  const weights = raw(SPECS.weights);
  return {
    baseUrl,
    rate: number(SPECS.rate, 5, 0.01, 10_000),
    durationSeconds: number(SPECS.duration, 0, 0, 7 * 24 * 3600),
    users: number(SPECS.users, 5, 1, 1000, true),
    maxInFlight: number(SPECS.maxInFlight, 100, 1, 100_000, true),
    weights: weights ? parseWeights(weights.value) : DEFAULT_WEIGHTS,
    timeoutMs: number(SPECS.timeout, 10_000, 100, 600_000, true),
    progressSeconds: number(SPECS.progress, 5, 0.1, 3600),
  };
}
