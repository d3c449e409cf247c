import { type Document, ObjectId } from 'bson';
import { isEqual } from 'mingo/util';
import { isPlainFieldName, isPlainObject } from './bson-values.js';

/** Thrown (and caught in {@link applySimplePipeline}) where mingo must evaluate the pipeline. */
const UNDECIDED = Symbol('undecided');

/** Field names a `$set` stage may set here, and `$name` may read: top-level, plain, not `_id`. */
const isPlainName = (name: string) => isPlainFieldName(name) && name !== '_id';

const isNil = (value: unknown): value is null | undefined => value === null || value === undefined;
const isNumber = (value: unknown): value is number => typeof value === 'number';

function undecided(): never {
  throw UNDECIDED;
}

/** The arguments of an operator that takes an array of expressions. */
function argsOf(operand: unknown, length?: number): unknown[] {
  if (!Array.isArray(operand) || (length !== undefined && operand.length !== length)) undecided();
  return operand;
}

/** A value of a field of a document or array element, as mingo's `resolve` reads a name without dots. */
function fieldOf(value: unknown, name: string): unknown {
  if (!isPlainObject(value) || !isPlainName(name)) undecided();
  return Object.hasOwn(value, name) ? value[name] : undefined;
}

/**
 * A scalar that compares with another by JavaScript's operators as mingo's `$gte` compares them:
 * both numbers, both strings or both Dates.
 */
function comparable(a: unknown, b: unknown): [number | string, number | string] {
  if (isNumber(a) && isNumber(b) && !Number.isNaN(a) && !Number.isNaN(b)) return [a, b];
  if (typeof a === 'string' && typeof b === 'string') return [a, b];
  // An Invalid Date's NaN compares as mingo's comparator decides (equal to anything): left to it.
  if (a instanceof Date && b instanceof Date && !Number.isNaN(a.getTime()) && !Number.isNaN(b.getTime()))
    return [a.getTime(), b.getTime()];
  return undecided();
}

/**
 * Evaluates an aggregation expression of the few kinds the lab's pipeline updates use, as mingo's
 * `computeExpression` does; anything else (another operator, a dotted path, a system variable, a
 * value of a type it does not compare) throws {@link UNDECIDED}. `self` is `$$this` inside `$filter`.
 */
function evaluate(expr: unknown, root: Document, self: { value: unknown } | undefined): unknown {
  if (typeof expr === 'string') {
    if (!expr.startsWith('$')) return expr;
    if (expr.startsWith('$$this.')) {
      if (!self) undecided();
      return fieldOf(self.value, expr.slice('$$this.'.length));
    }
    if (expr === '$$this') return self ? self.value : undecided();
    if (expr.startsWith('$$')) undecided();
    return fieldOf(root, expr.slice(1));
  }
  if (
    expr === null ||
    typeof expr === 'number' ||
    typeof expr === 'boolean' ||
    expr instanceof Date ||
    expr instanceof ObjectId
  )
    return expr;
  if (Array.isArray(expr)) return expr.map((item) => evaluate(item, root, self));
  if (!isPlainObject(expr)) return undecided();
  const keys = Object.keys(expr);
  if (keys.length !== 1 || !keys[0].startsWith('$')) return undecided();
  const operand: unknown = expr[keys[0]];
  const each = (operands: unknown[]) => operands.map((item) => evaluate(item, root, self));
  switch (keys[0]) {
    case '$literal':
      return operand;
    case '$ifNull': {
      let value: unknown;
      for (const item of argsOf(operand)) {
        value = evaluate(item, root, self);
        if (!isNil(value)) return value;
      }
      return value;
    }
    case '$add': {
      let sum = 0;
      let dated = false;
      for (const value of each(argsOf(operand))) {
        if (isNil(value)) return null;
        if (isNumber(value)) sum += value;
        else if (value instanceof Date && !dated) {
          dated = true;
          sum += value.getTime();
        } else undecided();
      }
      return dated ? new Date(sum) : sum;
    }
    case '$subtract': {
      const [a, b] = each(argsOf(operand, 2));
      if (isNil(a) || isNil(b)) return null;
      // mingo refuses a date minus NaN (its isNumber excludes NaN): left to it.
      if (a instanceof Date && isNumber(b) && !Number.isNaN(b)) return new Date(a.getTime() - Math.round(b));
      if (a instanceof Date && b instanceof Date) return a.getTime() - b.getTime();
      if (isNumber(a) && isNumber(b)) return a - b;
      return undecided();
    }
    case '$concatArrays': {
      const out: unknown[] = [];
      for (const value of each(argsOf(operand))) {
        if (isNil(value)) return null;
        if (!Array.isArray(value)) undecided();
        // One element at a time: spreading a long array into push's arguments overflows the stack.
        for (const element of value as unknown[]) out.push(element);
      }
      return out;
    }
    case '$filter': {
      if (!isPlainObject(operand)) return undecided();
      const names = Object.keys(operand);
      if (names.length !== 2 || !Object.hasOwn(operand, 'input') || !Object.hasOwn(operand, 'cond'))
        undecided();
      const input = evaluate(operand.input, root, self);
      if (isNil(input)) return null;
      if (!Array.isArray(input)) return undecided();
      // mingo's `truthy` in strict mode: an empty string counts as true.
      return input.filter((value) => {
        const kept = evaluate(operand.cond, root, { value });
        return Boolean(kept) || kept === '';
      });
    }
    case '$not': {
      const operands = Array.isArray(operand) ? operand : [operand];
      if (operands.length === 0) return false;
      if (operands.length > 1) undecided();
      // mingo's `$not` negates JavaScript's truthiness (an empty string counts as false here).
      return !evaluate(operands[0], root, self);
    }
    case '$and':
      return argsOf(operand).every((item) => {
        const value = evaluate(item, root, self);
        return Boolean(value) || value === '';
      });
    case '$in': {
      const [item, list] = each(argsOf(operand, 2));
      if (!Array.isArray(list)) return undecided();
      return list.some((value) => isEqual(value, item));
    }
    case '$eq': {
      const [a, b] = each(argsOf(operand, 2));
      // mingo's `$eq` matches an array by any of its elements: left to it.
      if (Array.isArray(a)) return undecided();
      return isEqual(a, b) || (isNil(a) && isNil(b));
    }
    case '$gte': {
      const [a, b] = comparable(...(each(argsOf(operand, 2)) as [unknown, unknown]));
      return a >= b;
    }
    default:
      return undecided();
  }
}

/**
 * An update pipeline of `$set` / `$addFields` stages on top-level fields (not `_id`) whose expressions
 * are field names, `$literal`, `$ifNull`, `$add`, `$subtract`, `$concatArrays`, `$filter` (on `$$this`),
 * `$not`, `$and`, `$in`, `$eq` and `$gte` (the product service's take and put-back), applied without
 * mingo's aggregator, which builds a pipeline and deep-copies the document for every update. Undefined
 * for any other pipeline, or where an expression meets a value it leaves to mingo (a missing result, an
 * array to compare, mixed types): `applyUpdate` then runs mingo. Where it answers, it answers what mingo
 * does, field order included (`simple-pipeline.spec.ts` compares both); each stage's expressions read
 * the document as it was before the stage. The stored document is not touched; the new one shares its
 * untouched values (stored documents are never mutated).
 */
export function applySimplePipeline(doc: Document, pipeline: readonly unknown[]): Document | undefined {
  let current = doc;
  try {
    for (const stage of pipeline) {
      if (!isPlainObject(stage)) return undefined;
      const ops = Object.keys(stage);
      if (ops.length !== 1 || (ops[0] !== '$set' && ops[0] !== '$addFields')) return undefined;
      const fields: unknown = stage[ops[0]];
      if (!isPlainObject(fields)) return undefined;
      const names = Object.keys(fields);
      if (names.length === 0 || !names.every(isPlainName)) return undefined;
      const values = names.map((name) => evaluate(fields[name], current, undefined));
      // mingo removes a field whose expression gives nothing: left to it.
      if (values.some((value) => value === undefined)) return undefined;
      const next: Document = { ...current };
      names.forEach((name, i) => (next[name] = values[i]));
      current = next;
    }
  } catch (error) {
    if (error === UNDECIDED) return undefined;
    throw error;
  }
  return current;
}
