import { type Document, ObjectId } from 'bson';
import { isEqual } from 'mingo/util';

type Value = string | number | boolean | null | Date | ObjectId;

const isSimpleValue = (value: unknown): value is Value =>
  value === null ||
  typeof value === 'string' ||
  typeof value === 'number' ||
  typeof value === 'boolean' ||
  value instanceof Date ||
  value instanceof ObjectId;

/** A simple value, or an array or plain object made of them (no `$` field names, so no `$push` modifiers). */
function isPlainValue(value: unknown): boolean {
  if (isSimpleValue(value)) return true;
  if (Array.isArray(value)) return value.every(isPlainValue);
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype)
    return false;
  for (const key of Object.keys(value)) {
    // An own `__proto__` (BSON may hold one) would become the prototype of mingo's copy.
    if (key.startsWith('$') || key === '__proto__' || !isPlainValue((value as Document)[key])) return false;
  }
  return true;
}

/** mingo's update operators store a shallow copy of the value (their `cloneMode: 'copy'`). */
function copyOf(value: unknown): unknown {
  if (value instanceof Date) return new Date(value);
  if (Array.isArray(value)) return value.slice();
  if (value !== null && typeof value === 'object' && !(value instanceof ObjectId)) return { ...value };
  return value;
}

const isNumber = (value: unknown): value is number => typeof value === 'number' && !Number.isNaN(value);

/**
 * `$set`, `$inc` and `$push` (of one value, without modifiers) of top-level fields (not `_id`), with
 * values made of strings, numbers, booleans, null, Dates and ObjectIds (arrays and plain objects of
 * them too, except for `$inc`), applied without mingo's updater (which copies its operator tables and
 * compiles the filter again on every call). Undefined for any other update, or a document it cannot
 * update alone (a field to increment that is not a number, to push to that is not an array):
 * `applyUpdate` then runs. Where it answers, it answers what `applyUpdate` does,
 * field order included (`simple-update.spec.ts` compares both); the stored document is not touched,
 * the new one shares its untouched values (stored documents are never mutated).
 */
export function applySimpleUpdate(
  doc: Document,
  u: unknown,
): { doc: Document; modified: boolean } | undefined {
  if (u === null || typeof u !== 'object' || Array.isArray(u)) return undefined;
  const ops = Object.keys(u);
  if (ops.length === 0) return undefined;
  const seen = new Set<string>();
  for (const op of ops) {
    if (op !== '$set' && op !== '$inc' && op !== '$push') return undefined;
    const fields: unknown = (u as Document)[op];
    if (fields === null || typeof fields !== 'object' || Object.getPrototypeOf(fields) !== Object.prototype)
      return undefined;
    const names = Object.keys(fields);
    if (names.length === 0) return undefined;
    for (const name of names) {
      if (
        name === '' ||
        name === '_id' ||
        name.includes('.') ||
        name.startsWith('$') ||
        name in Object.prototype
      )
        return undefined;
      if (seen.has(name)) return undefined;
      seen.add(name);
      const value: unknown = (fields as Document)[name];
      if (op === '$inc' ? !isNumber(value) : !isPlainValue(value)) return undefined;
      if (op === '$inc' && Object.hasOwn(doc, name) && !isNumber(doc[name])) return undefined;
      if (op === '$push' && Object.hasOwn(doc, name) && !Array.isArray(doc[name])) return undefined;
    }
  }
  const next: Document = { ...doc };
  let modified = false;
  for (const op of ops) {
    const fields = (u as Document)[op] as Document;
    for (const name of Object.keys(fields)) {
      const previous: unknown = Object.hasOwn(next, name) ? next[name] : undefined;
      const value: unknown = fields[name];
      if (op === '$inc') {
        // As mingo: a missing field (or -0) counts as 0.
        next[name] = ((previous as number | undefined) || 0) + (value as number);
      } else if (op === '$push') {
        // A new array: the stored document's stays as it is.
        next[name] = previous === undefined ? [value] : [...(previous as unknown[]), value];
      } else if (!isEqual(previous, value)) {
        next[name] = copyOf(value);
      }
      if (!Object.hasOwn(doc, name) || !isEqual(doc[name], next[name])) modified = true;
    }
  }
  return { doc: next, modified };
}
