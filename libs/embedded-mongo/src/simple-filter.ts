import { type Document, ObjectId } from 'bson';
import { isPlainFieldName, isPlainObject } from './bson-values.js';

type Scalar = string | number | boolean | Date | ObjectId;
type Operator = '$eq' | '$lt' | '$lte' | '$gt' | '$gte';

interface Condition {
  readonly field: string;
  readonly op: Operator | '$ne';
  readonly operand: Scalar;
  /** For `$ne` on `field.sub`: a field of the embedded document (or documents, in an array) in `field`. */
  readonly sub?: string;
}

const RANGE_OPERATORS = new Set<string>(['$lt', '$lte', '$gt', '$gte']);

const isScalar = (value: unknown): value is Scalar =>
  typeof value === 'string' ||
  typeof value === 'boolean' ||
  (typeof value === 'number' && !Number.isNaN(value)) ||
  (value instanceof Date && !Number.isNaN(value.getTime())) ||
  value instanceof ObjectId;

/**
 * The common filters of a service (`{ _id }`, `{ key }`, `{ _id, n: { $lt: 5 } }`, the product
 * service's take `{ _id, stock: { $gte: 1 }, 'holds.orderId': { $ne: id } }`) decided without mingo:
 * equalities and ranges on top-level fields, and `$ne` on a field of embedded documents one level
 * down, against a string, number, boolean, Date or ObjectId. `compile` gives undefined for any other
 * filter; `test` gives undefined for a document it cannot decide alone (an array or an unusual type in
 * a tested field), which mingo then decides.
 * Where it answers, it answers what mingo's `Query.test` does (`simple-filter.spec.ts` compares both).
 */
export class SimpleFilter {
  private constructor(private readonly conditions: readonly Condition[]) {}

  static compile(filter: Document): SimpleFilter | undefined {
    const conditions: Condition[] = [];
    for (const field of Object.keys(filter)) {
      const value: unknown = filter[field];
      const parts = field.includes('.') ? field.split('.') : [field];
      if (parts.length === 2) {
        // `{ 'holds.orderId': { $ne: id } }`: no embedded document in `holds` names `id`.
        if (!parts.every(isPlainFieldName) || !isPlainObject(value)) return undefined;
        const ops = Object.keys(value);
        if (ops.length !== 1 || ops[0] !== '$ne' || !isScalar(value.$ne)) return undefined;
        conditions.push({ field: parts[0], sub: parts[1], op: '$ne', operand: value.$ne });
        continue;
      }
      if (field === '' || field.startsWith('$') || field.includes('.') || field in Object.prototype)
        return undefined;
      if (isScalar(value)) {
        conditions.push({ field, op: '$eq', operand: value });
        continue;
      }
      if (!isPlainObject(value)) return undefined;
      const ops = Object.keys(value);
      if (ops.length === 0) return undefined;
      for (const op of ops) {
        const operand: unknown = value[op];
        if (op === '$eq' ? !isScalar(operand) : !RANGE_OPERATORS.has(op) || !isRangeOperand(operand))
          return undefined;
        conditions.push({ field, op: op as Operator, operand: operand as Scalar });
      }
    }
    return new SimpleFilter(conditions);
  }

  /** Whether the document matches; undefined when mingo must decide. */
  test(doc: Document): boolean | undefined {
    let decided = true;
    for (const { field, op, operand, sub } of this.conditions) {
      const value: unknown = Object.hasOwn(doc, field) ? doc[field] : undefined;
      const holds =
        op === '$ne'
          ? noneEquals(value, sub as string, operand)
          : op === '$eq'
            ? equals(value, operand)
            : inRange(value, op, operand);
      // The conditions are a conjunction: one that fails decides it, whatever mingo says of the others.
      if (holds === false) return false;
      if (holds === undefined) decided = false;
    }
    return decided ? true : undefined;
  }
}

const isRangeOperand = (value: unknown): value is string | number | Date =>
  typeof value === 'string' ||
  (typeof value === 'number' && !Number.isNaN(value)) ||
  (value instanceof Date && !Number.isNaN(value.getTime()));

/** mingo's `$eq` for a scalar operand; an array (matched by any element) is left to mingo. */
function equals(value: unknown, operand: Scalar): boolean | undefined {
  if (Array.isArray(value)) return undefined;
  if (operand instanceof ObjectId) return value instanceof ObjectId && value.equals(operand);
  if (operand instanceof Date) return value instanceof Date && value.getTime() === operand.getTime();
  return value === operand;
}

/**
 * mingo's `{ 'field.sub': { $ne: operand } }` given the value of `field`: true when it is missing or null,
 * or when no embedded document it holds (itself, or the elements of an array of them) has `sub` equal to
 * `operand`; anything else (an element that is not a document, an array in `sub`) is left to mingo.
 */
function noneEquals(value: unknown, sub: string, operand: Scalar): boolean | undefined {
  if (value === undefined || value === null) return true;
  for (const element of Array.isArray(value) ? value : [value]) {
    if (!isPlainObject(element)) return undefined;
    const same = equals(Object.hasOwn(element, sub) ? element[sub] : undefined, operand);
    if (same !== false) return same === true ? false : undefined;
  }
  return true;
}

/** mingo's `$lt`/`$lte`/`$gt`/`$gte`: a value of another type never matches; arrays and NaN are left to mingo. */
function inRange(value: unknown, op: Operator, operand: Scalar): boolean | undefined {
  if (Array.isArray(value)) return undefined;
  let a: number | string;
  let b: number | string;
  if (operand instanceof Date) {
    if (!(value instanceof Date)) return false;
    a = value.getTime();
    b = operand.getTime();
  } else if (typeof operand === 'number' || typeof operand === 'string') {
    if (typeof value !== typeof operand) return false;
    a = value as number | string;
    b = operand;
  } else return undefined;
  if (typeof a === 'number' && Number.isNaN(a)) return undefined;
  switch (op) {
    case '$lt':
      return a < b;
    case '$lte':
      return a <= b;
    case '$gt':
      return a > b;
    default:
      return a >= b;
  }
}
