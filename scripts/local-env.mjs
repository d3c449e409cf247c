// The settings of the lab `npm start` runs: `.env.local` at the repository's root (see .env.example), read
// by the launcher and by the commands that talk to that lab (npm run chaos, npm run scenario), so that a
// secret or a port changed there is the one they use too. A variable set in the environment wins over the
// file; `.env` belongs to Docker Compose and is not read here.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const LOCAL_ENV_FILE = join(dirname(fileURLToPath(import.meta.url)), '..', '.env.local');

/** Adds the variables of `.env.local` that the environment does not set to `process.env`. */
export function loadLocalEnv(file = LOCAL_ENV_FILE) {
  if (existsSync(file)) process.loadEnvFile(file);
}
