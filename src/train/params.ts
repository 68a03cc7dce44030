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

/**
 * BatchNormalization running statistics (inputs 3 and 4: mean and variance) of the main graph. They are
 * state, not parameters: training-mode BN normalizes with batch statistics, so no gradient reaches them, and
 * the training graph outputs their updated values instead (TrainingGraph.extraOutputs), which the trainer
 * writes back after each step.
 */
export function batchNormStateNames(model: Model): string[] {
  const names = new Set<string>();
  for (const n of model.graph.nodes) {
    if (n.opType !== 'BatchNormalization' || (n.domain !== '' && n.domain !== 'ai.onnx')) continue;
    for (const k of [3, 4]) {
      const name = n.inputs[k];
      if (name && model.graph.initializers.has(name)) names.add(name);
    }
  }
  return [...names];
}

/** Float initializers that are learnable weights (BatchNormalization running statistics are state, not weights). */
export function floatParamNames(model: Model): string[] {
  const state = new Set(batchNormStateNames(model));
  return [...model.graph.initializers.values()]
    .filter((t) => t.dataType === DataType.FLOAT && t.dims.length > 0 && !state.has(t.name))
    .map((t) => t.name);
}
