/** The Node flags every service runs with (npm start, npm run bench, the Dockerfile). */
export const SERVICE_NODE_FLAGS: readonly string[];
/** The environment every service (and npm start's embedded store) runs with. */
export const SERVICE_ENV: Readonly<Record<string, string>>;
