import type { Model } from '../ir/graph.js';
import { DataType, floatTensor, tensorToFloat32 } from '../ir/tensor.js';
import { RebirthError } from '../errors.js';

/** Float initializers of the main graph as mutable copies, keyed by name. */
export function readParams(model: Model, names?: readonly string[]): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  const inits = model.graph.initializers;
  for (const name of names ?? [...inits.keys()]) {
    const t = inits.get(name);
    if (!t) throw new RebirthError(`model has no initializer '${name}'`);
    if (t.dataType !== DataType.FLOAT) continue;
    out.set(name, Float32Array.from(tensorToFloat32(t)));
  }
  return out;
}

/** Replace initializer values in place (same names and sizes); tensors become raw float32. */
export function writeParams(model: Model, params: ReadonlyMap<string, Float32Array>): void {
  const inits = model.graph.initializers;
  for (const [name, values] of params) {
    const t = inits.get(name);
    if (!t) throw new RebirthError(`model has no initializer '${name}'`);
    const fresh = floatTensor(name, t.dims, Float32Array.from(values));
    inits.set(name, { ...t, data: fresh.data, dataType: DataType.FLOAT, storage: t.storage === 'external' ? 'external' : 'raw' });
  }
}

/** Float initializers that are learnable weights: read by a node as a non-shape input. */
export function floatParamNames(model: Model): string[] {
  return [...model.graph.initializers.values()].filter((t) => t.dataType === DataType.FLOAT && t.dims.length > 0).map((t) => t.name);
}
