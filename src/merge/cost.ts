/**
 * FLOPs and parameter counts of the nodes a merge removes and adds, by the op table's rules
 * (src/ops, conventions in src/ops/types.ts FLOPS_CONVENTION: multiply-add = 2, bias free, LRN
 * 2*size+4 per element, MaxPool k-1 and AveragePool k per output element, data movement free).
 * Counted per run at the model's batch size, a symbolic batch counting as 1.
 */
import type { Node } from '../ir/graph.js';
import type { ShapeInference } from '../shapes/infer.js';
import { OpContext } from '../ops/context.js';
import { nodeInfo } from '../ops/table.js';

/** Totals over nodes; FLOPs are undefined if any node's are (unknown op or dims). */
export function totals(nodes: readonly Node[], inference: ShapeInference): { flops: number | undefined; params: number } {
  const env = { opset: inference.opset, type: (n: string) => inference.types.get(n), constant: (n: string) => inference.constants.get(n) };
  let flops: number | undefined = 0;
  let params = 0;
  for (const node of nodes) {
    const info = nodeInfo(node);
    if (!info) {
      flops = undefined;
      continue;
    }
    const ctx = new OpContext(node, info, env, node.outputs.map((o) => inference.types.get(o) ?? {}));
    const f = info.flops(ctx);
    flops = flops === undefined || f === undefined || !Number.isFinite(f) ? undefined : flops + f;
    params += info.params(ctx);
  }
  return { flops, params };
}
