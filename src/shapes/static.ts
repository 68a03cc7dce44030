/**
 * One call for "give this model static shapes": bind the inputs (bind.ts), fold the shape subgraphs the
 * bound shapes make constant (fold.ts), and record every inferred shape in value_info (infer.ts). What
 * onnx-simplifier does with --overwrite-input-shape, minus its general constant folding of weights.
 */
import type { Graph, Model } from '../ir/graph.js';
import { bindInputShapes, type InputShapes } from './bind.js';
import { foldShapeSubgraphs, type ShapeFoldResult } from './fold.js';
import { inferShapes } from './infer.js';

export interface StaticShapesOptions {
  /** New shapes for graph inputs (see bindInputShapes); none: the declared ones. */
  inputShapes?: InputShapes;
}

function copyValueInfo(g: Graph): Graph {
  return { ...g, valueInfo: g.valueInfo.map((v) => ({ ...v })), outputs: g.outputs.map((v) => ({ ...v })) };
}

/**
 * A copy of `model` with bound input shapes, its shape subgraphs folded into constants and every value's
 * shape in value_info; with what was folded. The model is not modified. Symbolic dims nothing binds (a
 * free batch) stay symbolic and the subgraphs that depend on them stay, except Reshape targets (see
 * foldShapeSubgraphs).
 */
export function staticShapes(model: Model, options: StaticShapesOptions = {}): ShapeFoldResult {
  const shapes = options.inputShapes ?? {};
  const bound = Object.keys(shapes).length > 0 ? bindInputShapes(model, shapes) : model;
  const folded = foldShapeSubgraphs(bound);
  const out: Model = { ...folded.model, graph: copyValueInfo(folded.model.graph) };
  inferShapes(out);
  return { ...folded, model: out };
}
