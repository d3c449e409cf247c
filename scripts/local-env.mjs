// The settings of the lab `npm start` runs: `.env.local` at the repository's root (see .env.example), read
// by the launcher and by the commands that talk to that lab (npm run chaos, scenario and postman), so that
// a secret or an address (GATEWAY_URL, …) changed there is the one they use too. A variable set in the
// environment wins over the file; `.env` belongs to Docker Compose and is not read here.
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const LOCAL_ENV_FILE = join(dirname(fileURLToPath(import.meta.url)), '..', '.env.local');

/** A setting that cannot be used: the message names it and says what to do (the commands exit 2). */
export class SettingError extends Error {}

/** Adds the variables of `.env.local` that the environment does not set to `process.env`. */
export function loadLocalEnv(file = LOCAL_ENV_FILE) {
  let stats;
  try {
    stats = statSync(file);
  } catch (error) {
    if (error.code === 'ENOENT') return;
    throw new SettingError(`${file} cannot be read (${error.code ?? error.message}): fix or remove it`);
  }
  if (!stats.isFile())
    throw new SettingError(`${file} is not a file: remove it, or make it a file of settings`);
  try {
    process.loadEnvFile(file);
  } catch (error) {
    throw new SettingError(`${file} cannot be read (${error.code ?? error.message}): fix or remove it`);
  }
}

/** {@link loadLocalEnv} for a command with no error handling of its own: a SettingError ends it (exit 2). */
export function loadLocalEnvOrExit() {
  try {
    loadLocalEnv();
  } catch (error) {
    if (!(error instanceof SettingError)) throw error;
    console.error(error.message);
    process.exit(2);
  }
}

/**
 * Where the gateway of the lab npm start runs is reached by default: GATEWAY_URL when set (the services'
 * own setting, in .env.local from .env.example), else the port GATEWAY_PORT names, else port 3000.
 */
export function defaultGatewayUrl() {
  if (process.env.GATEWAY_URL) return process.env.GATEWAY_URL;
  return `http://localhost:${process.env.GATEWAY_PORT || 3000}`;
}

/**
 * `value` as the address of a part of the lab, without a trailing slash: an http(s) URL, a base path allowed
 * (a Prometheus behind a route prefix), no query or fragment (the commands add paths of their own, which
 * start with a slash); anything else is a SettingError saying `<label> is not an http(s) address<rest>`.
 */
export function httpAddress(value, label, rest = '') {
  let url;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.search || url.hash)
    throw new SettingError(`${label} is not an http(s) address${rest}`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** {@link httpAddress} of the environment variable `name` (unset or empty: `fallback`). */
export function labUrl(name, fallback) {
  const value = process.env[name] || fallback;
  return httpAddress(value, `${name}="${value}"`, ` such as ${fallback}`);
}
