import type { Model } from '../ir/graph.js';
import { loadModel } from '../onnx/file.js';
import { buildZooModel } from '../zoo/index.js';
import { applyInputShapes, type CliInputShapes } from './input-shape.js';

/**
 * MODEL arguments are a file path or `zoo:NAME[?batch=N]` for a built-in network. With `shapes`
 * (inputShapeArgs), --input-shape is applied and the shapes the command needs are checked.
 */
export function resolveModel(spec: string, shapes?: CliInputShapes): { model: Model; file?: string } {
  let loaded: { model: Model; file?: string };
  if (spec.startsWith('zoo:')) {
    const [name, query] = spec.slice(4).split('?');
    const batch = query?.match(/batch=(\d+)/)?.[1];
    loaded = { model: buildZooModel(name ?? '', batch ? { batch: Number(batch) } : {}) };
  } else loaded = { model: loadModel(spec), file: spec };
  return shapes ? { ...loaded, model: applyInputShapes(loaded.model, shapes) } : loaded;
}
