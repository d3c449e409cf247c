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

const isNumber = (value: unknown): value is number => typeof value === 'number' && !Number.isNaN(value);

/**
 * `$set` and `$inc` of top-level fields (not `_id`) to strings, numbers, booleans, null, Dates and
 * ObjectIds, applied without mingo's updater (which copies its operator tables on every call).
 * Undefined for any other update, or a document it cannot update alone (a field to increment that
 * is not a number): `applyUpdate` then runs. Where it answers, it answers what `applyUpdate` does,
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
    if (op !== '$set' && op !== '$inc') return undefined;
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
      if (op === '$inc' ? !isNumber(value) : !isSimpleValue(value)) return undefined;
      if (op === '$inc' && Object.hasOwn(doc, name) && !isNumber(doc[name])) return undefined;
    }
  }
  const next: Document = { ...doc };
  let modified = false;
  for (const op of ops) {
    const fields = (u as Document)[op] as Document;
    for (const name of Object.keys(fields)) {
      const previous: unknown = Object.hasOwn(next, name) ? next[name] : undefined;
      const value = fields[name] as Value;
      if (op === '$inc') {
        // As mingo: a missing field (or -0) counts as 0.
        next[name] = ((previous as number | undefined) || 0) + (value as number);
      } else if (!isEqual(previous, value)) {
        next[name] = value instanceof Date ? new Date(value) : value;
      }
      if (!Object.hasOwn(doc, name) || !isEqual(doc[name], next[name])) modified = true;
    }
  }
  return { doc: next, modified };
}
