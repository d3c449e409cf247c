import type { Document } from 'bson';
import { Aggregator } from 'mingo/aggregator';
import { Context } from 'mingo/core';
import * as accumulatorOperators from 'mingo/operators/accumulator';
import * as expressionOperators from 'mingo/operators/expression';
import * as pipelineOperators from 'mingo/operators/pipeline';
import * as projectionOperators from 'mingo/operators/projection';
import * as queryOperators from 'mingo/operators/query';
import * as windowOperators from 'mingo/operators/window';
import { Query } from 'mingo/query';
import type { Iterator } from 'mingo/lazy';
import type { Options } from 'mingo/types';

/** A pipeline stage only this module uses: it hands out the options a pipeline runs with. */
const CAPTURE_STAGE = '$__embeddedMongoOptions';

/**
 * Options every `Query` and `Aggregator` made here share: the operators of mingo's entry point
 * (`import { Query } from 'mingo'` sets up the same ones), already turned into mingo's internal
 * options object. Given plain options, as its entry point passes them, mingo copies every operator
 * table (some 300 entries) into a new context for each query and pipeline it builds, which took half
 * the time of a pipeline update; given this object it only copies its small per-run state. mingo
 * does not export the class, so one run of a pipeline made of a stage of ours hands it over. That
 * stage stays in the shared context; no input reaches it: filters have no pipeline stages and
 * pipeline updates admit only the stages `parseUpdate` lists.
 */
const SHARED: Options = (() => {
  let captured: Options | undefined;
  const capture = (collection: Iterator, _expr: unknown, options: Options): Iterator => {
    captured = options;
    return collection;
  };
  const context = Context.init({
    accumulator: accumulatorOperators,
    expression: expressionOperators,
    projection: projectionOperators,
    query: queryOperators,
    window: windowOperators,
    pipeline: { ...pipelineOperators, [CAPTURE_STAGE]: capture },
  });
  new Aggregator([{ [CAPTURE_STAGE]: 1 }], { context }).run([]);
  if (!captured) throw new Error('bug: mingo did not run the capturing stage');
  return captured;
})();

/** mingo's `Query` for a filter under binary comparison (no collation), on the shared options. */
export const binaryQuery = (filter: Document): Query => new Query(filter, SHARED);

/** Runs an update pipeline over documents (which it may modify), on the shared options. */
export const runSharedPipeline = (pipeline: Document[], docs: Document[]): Document[] =>
  new Aggregator(pipeline, SHARED).run(docs) as Document[];
