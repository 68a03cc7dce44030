/**
 * The tensor shapes the merge planner needs (spatial sizes feeding candidate convs, to solve the
 * streamline geometry; every candidate's shapes, to count FLOPs), from the project's shape inference
 * (src/shapes/infer.ts), run leniently: a value it cannot infer stays unknown and the planner refuses
 * with a reason instead of guessing. A symbolic batch is bound to 1, so FLOPs are per image.
 */
import type { Dim, Model } from '../ir/graph.js';
import { RebirthError } from '../errors.js';
import { inferTypes, type ShapeInference } from './infer.js';

export type ShapeMap = Map<string, Dim[]>;

export interface ModelShapes {
  shapes: ShapeMap;
  /** The full inference, for the op table's FLOPs rules. */
  inference: ShapeInference;
}

export function knownShapes(model: Model): ModelShapes {
  let inference: ShapeInference;
  try {
    inference = inferTypes(model, { strict: false, batch: 1 });
  } catch (e) {
    // A model that only works at its declared batch (a Reshape with the batch baked in).
    if (!(e instanceof RebirthError)) throw e;
    inference = inferTypes(model, { strict: false });
  }
  const shapes: ShapeMap = new Map();
  for (const [name, t] of inference.types) if (t.shape) shapes.set(name, t.shape);
  return { shapes, inference };
}

/** Numeric dims or undefined. */
export function numericShape(shapes: ShapeMap, name: string): number[] | undefined {
  const s = shapes.get(name);
  if (!s || !s.every((d): d is number => typeof d === 'number')) return undefined;
  return s;
}
