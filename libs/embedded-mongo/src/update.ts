import { type Document, ObjectId } from 'bson';
import { update as applyModifier } from 'mingo';
import { cloneDeep, isEqual, setValue } from 'mingo/util';
import { isPlainObject } from './bson-values.js';
import { CommandError, immutableField } from './errors.js';
import { runSharedPipeline } from './mingo-options.js';
import { applySimplePipeline } from './simple-pipeline.js';

export type UpdateSpec = Document | Document[];

const UPDATE_OPERATORS = new Set([
  '$addToSet',
  '$bit',
  '$currentDate',
  '$inc',
  '$max',
  '$min',
  '$mul',
  '$pop',
  '$pull',
  '$pullAll',
  '$push',
  '$rename',
  '$set',
  '$setOnInsert',
  '$unset',
]);
const PIPELINE_STAGES = new Set(['$addFields', '$set', '$project', '$unset', '$replaceRoot', '$replaceWith']);

const failedToParse = (message: string) => new CommandError(9, 'FailedToParse', message);

export function parseUpdate(u: unknown): UpdateSpec {
  if (Array.isArray(u)) {
    for (const stage of u) {
      const op = isPlainObject(stage) ? Object.keys(stage)[0] : undefined;
      if (op === undefined || !PIPELINE_STAGES.has(op)) {
        throw new CommandError(
          72,
          'InvalidOptions',
          `${op ?? 'stage'} is not allowed to be used within an update`,
        );
      }
    }
    return u as Document[];
  }
  if (!isPlainObject(u))
    throw new CommandError(14, 'TypeMismatch', 'Update argument must be either an object or an array');
  const keys = Object.keys(u);
  const operators = keys.filter((k) => k.startsWith('$'));
  if (operators.length === 0) return u;
  if (operators.length !== keys.length) {
    throw failedToParse(
      `Unknown modifier: ${keys.find((k) => !k.startsWith('$'))}. Expected a valid update modifier`,
    );
  }
  const unknown = operators.find((op) => !UPDATE_OPERATORS.has(op));
  if (unknown) throw failedToParse(`Unknown modifier: ${unknown}. Expected a valid update modifier`);
  for (const op of operators) {
    if (!isPlainObject(u[op]))
      throw failedToParse(`Modifiers operate on fields but we found type ${typeof u[op]} instead`);
  }
  return u;
}

const isReplacement = (u: UpdateSpec): u is Document =>
  !Array.isArray(u) && !Object.keys(u).some((k) => k.startsWith('$'));

/** The document with `_id` as its first field, as the server stores it. */
export function withId(doc: Document, id: unknown): Document {
  const { _id: _ignored, ...rest } = doc;
  return { _id: id, ...rest };
}

export interface UpdateContext {
  readonly filter: Document;
  readonly arrayFilters?: Document[];
}

/** Applies an update to a private copy: the stored document is never touched. */
export function applyUpdate(
  doc: Document,
  u: UpdateSpec,
  ctx: UpdateContext,
): { doc: Document; modified: boolean } {
  if (isReplacement(u)) {
    if ('_id' in u && !isEqual(u._id, doc._id)) throw immutableField();
    const next = withId(cloneDeep(u), doc._id);
    return { doc: next, modified: !isEqual(doc, next) };
  }
  const next = Array.isArray(u) ? runPipeline(doc, u) : runModifier(doc, u, ctx, false);
  if (!isEqual(next._id, doc._id)) throw immutableField();
  return { doc: next, modified: !isEqual(doc, next) };
}

/** The document an upsert inserts: equality fields of the filter, then the update applied to them. */
export function upsertDocument(u: UpdateSpec, ctx: UpdateContext): Document {
  const seed = seedFromFilter(ctx.filter);
  if (isReplacement(u)) return withId(cloneDeep(u), (u as Document)._id ?? seed._id ?? new ObjectId());
  const doc = Array.isArray(u) ? runPipeline(seed, u) : runModifier(seed, u, ctx, true);
  return withId(doc, doc._id ?? new ObjectId());
}

function runPipeline(doc: Document, pipeline: Document[]): Document {
  const simple = applySimplePipeline(doc, pipeline);
  if (simple) return simple;
  const [next] = runSharedPipeline(pipeline, [cloneDeep(doc)]);
  return next;
}

function runModifier(doc: Document, u: Document, ctx: UpdateContext, inserting: boolean): Document {
  const { $setOnInsert, ...modifier } = u;
  const next = cloneDeep(doc);
  if (inserting && $setOnInsert) modifier.$set = { ...modifier.$set, ...$setOnInsert };
  // mingo refuses any update path on _id; MongoDB accepts its current value, and sets it on upsert.
  if (isPlainObject(modifier.$set) && '_id' in modifier.$set) {
    const { _id, ...rest } = modifier.$set;
    if (inserting && next._id === undefined) next._id = _id;
    else if (!isEqual(_id, next._id)) throw immutableField();
    if (Object.keys(rest).length > 0) modifier.$set = rest;
    else delete modifier.$set;
  }
  if (Object.keys(modifier).length === 0) return next;
  try {
    applyModifier(next, modifier, ctx.arrayFilters, inserting ? {} : ctx.filter, { cloneMode: 'copy' });
  } catch (error) {
    if (error instanceof Error && error.message.includes('immutable field')) throw immutableField();
    throw error;
  }
  return next;
}

function seedFromFilter(filter: Document): Document {
  const seed: Document = {};
  const visit = (f: Document): void => {
    for (const [key, value] of Object.entries(f)) {
      if (key === '$and' && Array.isArray(value)) {
        for (const part of value) if (isPlainObject(part)) visit(part);
      } else if (key.startsWith('$')) {
        continue;
      } else if (isPlainObject(value) && Object.keys(value).some((k) => k.startsWith('$'))) {
        if ('$eq' in value) setValue(seed, key, cloneDeep(value.$eq));
      } else if (!(value instanceof RegExp)) {
        setValue(seed, key, cloneDeep(value));
      }
    }
  };
  visit(filter);
  return seed;
}
