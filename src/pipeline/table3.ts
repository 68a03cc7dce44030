/**
 * DeepRebirth's Table 3 columns for BVLC GoogLeNet 224x224, batch 1, one thread, ORT optimizations 'all':
 * original, Tucker, Merge, Merge + Tucker, timed interleaved in one run per backend.
 *
 * The zoo's weights are random, and VBMF calls every unfolding of a random network noise (rank 0,
 * docs/tucker.md), so the ranks here come from a rule that does not look at weight values: every conv
 * keeps a fixed fraction of its channels in both modes (default 1/2; a 1x1 conv, an SVD layer, keeps
 * that fraction of min(Cin, Cout)). The classifier is left whole: it is ~1% of the run and its
 * 1000 x 1024 eigenproblem alone takes seconds. Each decomposed layer is then measured against the
 * original on the backend and kept only where it is faster, as tuckerDecompose does for any rule,
 * so the Tucker models differ per backend.
 */
import type { Model } from '../ir/graph.js';
import type { Backend } from '../runtime/session.js';
import { encodeModel } from '../onnx/encode.js';
import { buildZooModel } from '../zoo/index.js';
import { inspectModel } from '../inspect/inspect.js';
import { applyMerges } from '../merge/plan.js';
import { timeModels, type LatencyStats } from '../runtime/timing.js';
import { tuckerDecompose } from '../decompose/tucker.js';
import { fractionRanks } from '../decompose/ranks.js';

export interface Table3Row {
  /** Median latency (ms) of each model over the interleaved runs. */
  original: number;
  tucker: number;
  merged: number;
  mergedTucker: number;
  /** Layers kept decomposed (measured faster on this backend) of those the rule decomposed. */
  /** FLOPs per inference of each model (multiply-add = 2, src/ops conventions). */
  flops: { original: number; tucker: number; merged: number; mergedTucker: number };
  tuckerLayers: { kept: number; candidates: number };
  mergedTuckerLayers: { kept: number; candidates: number };
  /** Every interleaved run of the four models (paired by round), for intervals of the speed-ups. */
  stats?: Record<'original' | 'tucker' | 'merged' | 'mergedTucker', LatencyStats>;
}

export interface Table3Options {
  /** Interleaved rounds of the whole-model timing (wasm uses at least 5). */
  runs: number;
  backends: Backend[];
  /** Channel fraction kept per mode (default 0.5). */
  fraction?: number;
  /** Ranks rounded to a multiple of this (default 8), see fractionRanks. */
  multiple?: number;
  /** Cap on the rounds of each single-layer keep/leave decision (default: decideFaster's, src/runtime/decide.ts). */
  layerRuns?: number;
  onProgress?: (message: string) => void;
}

export async function googlenetTable3(options: Table3Options): Promise<Partial<Record<Backend, Table3Row>>> {
  const fraction = options.fraction ?? 0.5;
  const multiple = options.multiple ?? 8;
  const log = options.onProgress ?? ((): void => undefined);
  const original = buildZooModel('googlenet', { batch: 1 });
  const merged = applyMerges(original, {}).model;
  const out: Partial<Record<Backend, Table3Row>> = {};
  for (const backend of options.backends) {
    const layerRuns = options.layerRuns;
    const decompose = async (m: Model, label: string): Promise<{ model: Model; kept: number; candidates: number }> => {
      log(`${backend}: decomposing ${label} (ranks: ${fraction} of the channels), measuring each layer`);
      const r = await tuckerDecompose(m, { ranks: fractionRanks(m, fraction, multiple), backend, ...(layerRuns !== undefined ? { runs: layerRuns } : {}) });
      const candidates = r.layers.filter((l) => l.method !== 'none').length;
      return { model: r.model, kept: r.layers.filter((l) => l.decomposed).length, candidates };
    };
    const tucker = await decompose(original, 'the original');
    const mergedTucker = await decompose(merged, 'the merged model');
    log(`${backend}: timing the four models interleaved`);
    const t = await timeModels({
      original: encodeModel(original), tucker: encodeModel(tucker.model), merged: encodeModel(merged), mergedTucker: encodeModel(mergedTucker.model),
    }, { backend, threads: 1, optLevel: 'all', runs: backend === 'wasm' ? Math.max(5, options.runs) : options.runs });
    const ms = (k: string): number => t[k]?.medianMs ?? NaN;
    out[backend] = {
      original: ms('original'), tucker: ms('tucker'), merged: ms('merged'), mergedTucker: ms('mergedTucker'),
      flops: { original: inspectModel(original).flops, tucker: inspectModel(tucker.model).flops, merged: inspectModel(merged).flops, mergedTucker: inspectModel(mergedTucker.model).flops },
      tuckerLayers: { kept: tucker.kept, candidates: tucker.candidates }, mergedTuckerLayers: { kept: mergedTucker.kept, candidates: mergedTucker.candidates },
      ...(t.original && t.tucker && t.merged && t.mergedTucker ? { stats: { original: t.original, tucker: t.tucker, merged: t.merged, mergedTucker: t.mergedTucker } } : {}),
    };
  }
  return out;
}
