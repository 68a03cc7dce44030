/**
 * The engine's answer as a mutable table, for builders that add values as they go (the autodiff's
 * training graph): inferred types, shapes and known contents of a model's values, plus whatever the
 * builder records for the values it emits. Inference runs leniently: a value the table cannot infer
 * stays unknown, and the builder fails where it needs it, naming the node.
 */
import type { Dim, Model } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import { allNums } from '../ops/dims.js';
import { foldedValue } from '../ops/plumbing.js';
import type { ValueType } from '../ops/types.js';
import { inferTypes } from './infer.js';

export class ShapeInfo {
  readonly types = new Map<string, ValueType>();
  private readonly constants = new Map<string, Tensor>();

  /** Infer `model` leniently (see InferOptions.strict). */
  static of(model: Model): ShapeInfo {
    const inference = inferTypes(model, { strict: false });
    const info = new ShapeInfo();
    for (const [name, t] of inference.types) info.types.set(name, t);
    for (const [name, t] of inference.constants) info.constants.set(name, t);
    return info;
  }

  has(name: string): boolean {
    return this.types.has(name);
  }

  shape(name: string): Dim[] | undefined {
    return this.types.get(name)?.shape;
  }

  elemType(name: string): number | undefined {
    return this.types.get(name)?.elemType;
  }

  /** Numeric dims, or undefined when the rank or any dim is not known as a number. */
  staticShape(name: string): number[] | undefined {
    const s = this.shape(name);
    return allNums(s) ? s : undefined;
  }

  /**
   * Known integer contents (axes, pads, shapes): folded shape arithmetic or a small integer constant;
   * undefined when any element is unknown or symbolic.
   */
  ints(name: string): number[] | undefined {
    const t = this.constants.get(name);
    const v = this.types.get(name)?.value ?? (t ? foldedValue(t) : undefined);
    return v && allNums(v) ? v : undefined;
  }

  /** Record a value's type; fields left undefined keep what was known. */
  set(name: string, t: ValueType): void {
    if (!name) return;
    const prev = this.types.get(name);
    const elemType = t.elemType ?? prev?.elemType;
    const shape = t.shape ?? prev?.shape;
    // Known contents stay only while the shape they were read under does.
    const value = prev?.value && shape === prev.shape ? prev.value : undefined;
    this.types.set(name, { ...(elemType !== undefined ? { elemType } : {}), ...(shape ? { shape } : {}), ...(value ? { value } : {}) });
  }
}
