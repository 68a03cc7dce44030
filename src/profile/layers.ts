import type { Model } from '../ir/graph.js';
import { encodeModel } from '../onnx/encode.js';
import { profileModel, type ProfileOptions, type RuntimeInfo, type RuntimeProfile } from '../runtime/profile.js';
import type { LatencyBackend, OptLevel } from '../runtime/session.js';
import { categoryOf, type OpCategory } from '../ops/table.js';

export interface LayerTime {
  /** The model node the time is attributed to (for fused kernels: the first node of the fusion). */
  name: string;
  opType: string;
  category: OpCategory;
  ms: number;
  /** Further model nodes ORT fused into this kernel (their own time is in `ms`). */
  fusedWith?: string[];
}

export interface LayerProfile {
  model: string;
  backend: LatencyBackend;
  optLevel: OptLevel;
  threads: number;
  /** What ran it: backend, execution provider, threads, user agent. */
  runtime: RuntimeInfo;
  latencyMs: { median: number; p90: number };
  /** Sum of kernel times per run; the rest of the latency is session overhead between kernels. */
  kernelMs: number;
  /** Share of kernel time spent in non-tensor layers (DeepRebirth Table 1), 0..1. */
  nonTensorShare: number;
  layers: LayerTime[];
  /** Model nodes in the graph, and those no kernel accounts for (see RuntimeProfile.unattributed). */
  modelNodes: number;
  unattributed: string[];
  byOpType: Record<string, number>;
  byCategory: Record<OpCategory, number>;
}

/**
 * Profile a model on a real runtime and attribute kernel time to the model's layers. With optimizations
 * disabled every kernel is one model node (the paper's view); with `all`, a fused kernel (e.g. Conv+Relu)
 * is charged to its first node, whose category decides, since the fused activation costs nearly nothing.
 */
export async function profileLayers(model: Model, options: ProfileOptions & { name?: string } = {}): Promise<LayerProfile> {
  const raw = await profileModel(encodeModel(model), options);
  return attribute(model, raw, options.name ?? (model.graph.name || 'model'));
}

export function attribute(model: Model, raw: RuntimeProfile, name: string): LayerProfile {
  const byName = new Map(model.graph.nodes.map((n, i) => [n.name || `${n.opType}_${i}`, n]));
  const layers: LayerTime[] = [];
  for (const k of raw.nodes) {
    const ids = k.fusedFrom ?? [k.name];
    const anchor = ids.map((id) => byName.get(id)).find((n) => n !== undefined);
    if (anchor) {
      const layer: LayerTime = { name: anchor.name || k.name, opType: anchor.opType, category: categoryOf(anchor), ms: k.ms };
      const rest = ids.filter((id) => id !== (anchor.name || k.name));
      if (rest.length) layer.fusedWith = rest;
      layers.push(layer);
    } else {
      // Kernels with no model node: ORT's layout conversions (ReorderInput/Output) and the like.
      layers.push({ name: k.name, opType: k.opType, category: 'other', ms: k.ms });
    }
  }
  const byOpType: Record<string, number> = {};
  const byCategory: Record<OpCategory, number> = { tensor: 0, 'non-tensor': 0, other: 0 };
  let kernelMs = 0;
  for (const l of layers) {
    byOpType[l.opType] = (byOpType[l.opType] ?? 0) + l.ms;
    byCategory[l.category] += l.ms;
    kernelMs += l.ms;
  }
  return {
    model: name,
    backend: raw.backend,
    optLevel: raw.optLevel,
    threads: raw.threads,
    runtime: raw.runtime,
    latencyMs: { median: raw.latencyMs.median, p90: raw.latencyMs.p90 },
    kernelMs,
    nonTensorShare: kernelMs > 0 ? byCategory['non-tensor'] / kernelMs : 0,
    layers,
    modelNodes: model.graph.nodes.length,
    unattributed: raw.unattributed,
    byOpType,
    byCategory,
  };
}
