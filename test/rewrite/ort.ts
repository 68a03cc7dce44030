// Shared helpers of the rewrite tests: random weights, running a rule set on a copy of a model, and the
// checks every rewrite test makes (postconditions, ORT loads the result, outputs equal the original's).
import assert from 'node:assert/strict';
import type { Model } from '../../src/ir/graph.js';
import { floatTensor, type Tensor } from '../../src/ir/tensor.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { decodeModel } from '../../src/onnx/decode.js';
import { Random } from '../../src/util/random.js';
import { Session, type HostTensor } from '../../src/runtime/session.js';
import { checkGraph, cloneModel, runPasses, type AnyRule, type PassOptions, type PassResult } from '../../src/rewrite/engine.js';
import { verifyModels, type Verification } from '../../src/rewrite/verify.js';

/** Deterministic N(0, std) float32 weights. */
export function randomTensor(name: string, dims: number[], seed: number, std = 0.5, offset = 0): Tensor {
  const rng = new Random(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return floatTensor(name, dims, Float32Array.from({ length: n }, () => offset + rng.normal(0, std)));
}

/** Positive values (variances, scales kept away from zero). */
export function positiveTensor(name: string, dims: number[], seed: number): Tensor {
  const rng = new Random(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return floatTensor(name, dims, Float32Array.from({ length: n }, () => 0.5 + rng.nextFloat()));
}

export function builder(): GraphBuilder {
  return new GraphBuilder('g');
}

export function model(b: GraphBuilder, opset = 13): Model {
  return modelOf(b.graph, opset);
}

export function opCounts(m: Model): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of m.graph.nodes) counts[n.opType] = (counts[n.opType] ?? 0) + 1;
  return counts;
}

/** The engine's postconditions, and the model survives a save/load and is accepted by ORT. */
export async function assertWellFormed(m: Model): Promise<void> {
  assert.deepEqual(checkGraph(m.graph), []);
  const bytes = encodeModel(m, { external: 'inline' });
  const again = decodeModel(bytes);
  assert.equal(again.graph.nodes.length, m.graph.nodes.length);
  const session = await Session.create(bytes, { optLevel: 'disabled' });
  await session.release();
}

export interface Rewritten {
  original: Model;
  optimized: Model;
  result: PassResult;
  verification: Verification;
}

/**
 * Run `rules` on a copy of `m`, check the postconditions and that ORT gives the same outputs before and
 * after (relative tolerance 1e-5 unless given).
 */
export async function rewrite(m: Model, rules: readonly AnyRule[], options: PassOptions & { tolerance?: number; dims?: Record<string, number> } = {}): Promise<Rewritten> {
  const optimized = cloneModel(m);
  const result = runPasses(optimized, rules, options);
  await assertWellFormed(optimized);
  const verification = await verifyModels(m, optimized, { tolerance: options.tolerance ?? 1e-5, samples: 2, ...(options.dims ? { dims: options.dims } : {}) });
  assert.ok(verification.passed, `outputs moved: ${JSON.stringify(verification.perOutput)}`);
  return { original: m, optimized, result, verification };
}

/** Run a rule set on a copy and expect it to change nothing, refusing with a reason matching `reason`. */
export function expectRefusal(m: Model, rules: readonly AnyRule[], reason: RegExp): PassResult {
  const copy = cloneModel(m);
  const before = encodeModel(copy);
  const result = runPasses(copy, rules);
  assert.equal(result.changed, false, `expected no rewrite, got ${JSON.stringify(result.firings)}`);
  assert.deepEqual(encodeModel(copy), before);
  assert.ok(result.refusals.some((r) => reason.test(r.reason)), `no refusal matching ${reason}: ${JSON.stringify(result.refusals)}`);
  return result;
}

export async function run(m: Model, feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
  const session = await Session.create(encodeModel(m, { external: 'inline' }), { optLevel: 'disabled' });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}
