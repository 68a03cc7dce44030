import type { Model } from '../ir/graph.js';
import { loadModel } from '../onnx/file.js';
import { buildZooModel } from '../zoo/index.js';

/** MODEL arguments are a file path or `zoo:NAME[?batch=N]` for a built-in network. */
export function resolveModel(spec: string): { model: Model; file?: string } {
  if (spec.startsWith('zoo:')) {
    const [name, query] = spec.slice(4).split('?');
    const batch = query?.match(/batch=(\d+)/)?.[1];
    return { model: buildZooModel(name ?? '', batch ? { batch: Number(batch) } : {}) };
  }
  return { model: loadModel(spec), file: spec };
}
