/** Keys whose values never reach a log, at any depth. */
export const SECRET_KEY =
  /pass(word)?|secret|token|authorization|cookie|api[-_]?key|client_secret|refresh_token|access_token/i;

export const REDACTED = '[REDACTED]';

const BEARER = /\b(bearer)\s+[\w.~+/-]{8,}=*/gi;
/** A JWS/JWT: base64url JSON header (`{"` → `eyJ`), payload and signature (empty for `alg: none`). */
const JWT = /\beyJ[\w-]{4,}\.[\w-]{2,}\.[\w-]*/g;
/** `password=…`, `client_secret=…`, `access_token=…` in query strings and form bodies. */
const SECRET_ASSIGNMENT = /\b([\w-]*(?:pass(?:word)?|secret|token|api[-_]?key)[\w-]*)=([^&\s"',;]+)/gi;
/** `"password":"…"` in JSON someone logged as a string. */
const SECRET_JSON_MEMBER =
  /("[^"]*(?:pass(?:word)?|secret|token|authorization|cookie|api[-_]?key)[^"]*"\s*:\s*)"(?:[^"\\]|\\.)*"/gi;

const MAX_DEPTH = 10;
const MAX_ARRAY_ITEMS = 1000;

/** Replaces bearer tokens, JWTs and `secret=value` pairs inside free text. */
export function redactText(text: string): string {
  if (text.length < 8) return text;
  return text
    .replace(BEARER, `$1 ${REDACTED}`)
    .replace(JWT, REDACTED)
    .replace(SECRET_ASSIGNMENT, `$1=${REDACTED}`)
    .replace(SECRET_JSON_MEMBER, `$1"${REDACTED}"`);
}

/**
 * A JSON-safe copy of `value` without secrets: values under secret-looking keys become `[REDACTED]`,
 * tokens inside strings are replaced, errors become `{ type, message, stack, … }`, cycles become
 * `[Circular]`. Never throws, never mutates its input.
 */
export function redact(value: unknown): unknown {
  try {
    return copy(value, 0, new Set());
  } catch {
    return '[Unserializable]';
  }
}

/** {@link redact} for the fields of a record: a plain object out, whatever came in. */
export function redactFields(fields: Record<string, unknown>): Record<string, unknown> {
  const copied = redact(fields);
  return typeof copied === 'object' && copied !== null && !Array.isArray(copied)
    ? (copied as Record<string, unknown>)
    : {};
}

function copy(value: unknown, depth: number, ancestors: Set<object>): unknown {
  switch (typeof value) {
    case 'string':
      return redactText(value);
    case 'number':
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    case 'symbol':
      return value.toString();
    case 'function':
    case 'undefined':
      return undefined;
  }
  if (value === null) return null;
  const object = value as object;
  if (ancestors.has(object)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Truncated]';
  if (object instanceof Date) return Number.isNaN(object.getTime()) ? 'Invalid Date' : object.toISOString();
  if (object instanceof RegExp) return object.toString();
  if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer) {
    return `[${object.constructor.name} ${object.byteLength} bytes]`;
  }
  ancestors.add(object);
  try {
    if (Array.isArray(object)) return copyArray(object, depth, ancestors);
    if (object instanceof Set) return copyArray([...object], depth, ancestors);
    if (object instanceof Map)
      return copyEntries(
        [...object].map(([k, v]) => [String(k), v]),
        depth,
        ancestors,
      );
    if (object instanceof Error) return copyError(object, depth, ancestors);
    const toJSON: unknown = Reflect.get(object, 'toJSON');
    if (typeof toJSON === 'function') return copy(toJSON.call(object), depth + 1, ancestors);
    return copyEntries(ownEntries(object), depth, ancestors);
  } catch {
    return '[Unserializable]';
  } finally {
    ancestors.delete(object);
  }
}

function copyArray(items: readonly unknown[], depth: number, ancestors: Set<object>): unknown[] {
  const copied = items.slice(0, MAX_ARRAY_ITEMS).map((item) => copy(item, depth + 1, ancestors) ?? null);
  if (items.length > MAX_ARRAY_ITEMS) copied.push(`[${items.length - MAX_ARRAY_ITEMS} more items]`);
  return copied;
}

function copyEntries(
  entries: [string, unknown][],
  depth: number,
  ancestors: Set<object>,
): Record<string, unknown> {
  const copied: Record<string, unknown> = {};
  for (const [key, value] of entries) {
    if (SECRET_KEY.test(key)) {
      copied[key] = REDACTED;
      continue;
    }
    const item = copy(value, depth + 1, ancestors);
    if (item !== undefined) copied[key] = item;
  }
  return copied;
}

function copyError(error: Error, depth: number, ancestors: Set<object>): Record<string, unknown> {
  const entries: [string, unknown][] = [
    ['type', error.name],
    ['message', error.message],
    ['stack', error.stack],
    ...ownEntries(error).filter(([key]) => key !== 'name' && key !== 'message' && key !== 'stack'),
  ];
  if (error.cause !== undefined) entries.push(['cause', error.cause]);
  return copyEntries(entries, depth, ancestors);
}

/** Own enumerable properties; a getter that throws is shown, not propagated. */
function ownEntries(object: object): [string, unknown][] {
  return Object.keys(object).map((key) => {
    try {
      return [key, (object as Record<string, unknown>)[key]];
    } catch {
      return [key, '[Unreadable]'];
    }
  });
}
