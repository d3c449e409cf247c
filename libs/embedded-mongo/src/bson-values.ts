import { Binary, Decimal128, type Document, Double, EJSON, Int32, Long, ObjectId } from 'bson';

export const isPlainObject = (value: unknown): value is Document => {
  if (value === null || typeof value !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
};

const PLAIN_FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A field name the fast paths (simple-filter.ts, simple-pipeline.ts) read and write as a plain property:
 * letters, digits and `_`, not starting with a digit (an array index) or `$` (an operator), and not a
 * name `Object.prototype` has. Any other name is left to mingo.
 */
export const isPlainFieldName = (name: string): boolean =>
  PLAIN_FIELD_NAME.test(name) && !(name in Object.prototype);

/**
 * A string equal for values MongoDB treats as equal in an index (1 and 1.0, ObjectIds by value),
 * so `_id` and unique-index lookups are plain Map lookups.
 */
export function canonicalKey(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  switch (typeof value) {
    case 'number':
      return `n:${value}`;
    case 'string':
      // Quoted: inside an array or a compound key, 'p' + 'q,s:r' must not read as 'p,s:q' + 'r'.
      return `s:${JSON.stringify(value)}`;
    case 'boolean':
      return `b:${value}`;
    case 'bigint':
      return `n:${value}`;
  }
  if (value instanceof ObjectId) return `o:${value.toHexString()}`;
  if (value instanceof Date) return `d:${value.getTime()}`;
  if (value instanceof Long) return `n:${value.toString()}`;
  if (value instanceof Int32 || value instanceof Double) return `n:${value.value}`;
  if (value instanceof Decimal128) return `m:${value.toString()}`;
  if (value instanceof Binary) return `x:${value.sub_type}:${value.toString('base64')}`;
  if (value instanceof RegExp) return `r:${JSON.stringify(value.source)}/${value.flags}`;
  if (Array.isArray(value)) return `[${value.map(canonicalKey).join(',')}]`;
  if (isPlainObject(value)) {
    // Field order is significant for embedded documents in MongoDB.
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}:${canonicalKey(v)}`)
      .join(',')}}`;
  }
  return `e:${EJSON.stringify({ v: value }, { relaxed: false })}`;
}

/**
 * The value with every Int32, Double and safe-range Long replaced by a plain number, as the driver
 * sends them: index specs read back from canonical EJSON (or sent by another client) compare equal
 * to the ones TypeORM sends, and options such as `expireAfterSeconds` are usable as numbers.
 */
export function plainNumbers<T>(value: T): T {
  if (value instanceof Int32 || value instanceof Double) return value.value as T;
  if (value instanceof Long) {
    const n = value.toNumber();
    return (Number.isSafeInteger(n) ? n : value) as T;
  }
  if (Array.isArray(value)) return value.map(plainNumbers) as T;
  if (isPlainObject(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainNumbers(v)])) as T;
  return value;
}

/** Renders a value the way the server prints it in `E11000 ... dup key: { ... }` messages. */
export function formatValue(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (value instanceof ObjectId) return `ObjectId('${value.toHexString()}')`;
  if (value instanceof Date) return `new Date(${value.getTime()})`;
  if (value instanceof Long) return value.toString();
  if (value instanceof Decimal128) return `NumberDecimal("${value.toString()}")`;
  if (Array.isArray(value)) return `[ ${value.map(formatValue).join(', ')} ]`;
  if (isPlainObject(value)) return formatDocument(value);
  return EJSON.stringify(value as Document, { relaxed: true });
}

export function formatDocument(doc: Document): string {
  const entries = Object.entries(doc);
  if (entries.length === 0) return '{}';
  return `{ ${entries.map(([k, v]) => `${k}: ${formatValue(v)}`).join(', ')} }`;
}

/**
 * The values a dotted path reaches, descending into arrays like a multikey index does.
 * A missing field yields `undefined`.
 */
export function pathValues(doc: unknown, path: string): unknown[] {
  const out: unknown[] = [];
  collect(doc, path.split('.'), 0, out);
  return out;
}

function collect(value: unknown, parts: string[], i: number, out: unknown[]): void {
  if (i === parts.length) {
    if (Array.isArray(value)) out.push(...(value.length > 0 ? value : [undefined]));
    else out.push(value);
    return;
  }
  if (Array.isArray(value)) {
    if (/^\d+$/.test(parts[i])) collect(value[Number(parts[i])], parts, i + 1, out);
    else if (value.length === 0) out.push(undefined);
    // An array directly in an array is not descended into (as MongoDB's and mingo's queries do not).
    else
      for (const element of value) {
        if (Array.isArray(element)) out.push(undefined);
        else collect(element, parts, i, out);
      }
    return;
  }
  if (isPlainObject(value)) collect(value[parts[i]], parts, i + 1, out);
  else out.push(undefined);
}
