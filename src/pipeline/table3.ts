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
import { getInt } from '../ir/attributes.js';
import { inspectModel } from '../inspect/inspect.js';
import { RebirthError } from '../errors.js';
import { applyMerges } from '../merge/plan.js';
import { timeModels, type LatencyStats } from '../runtime/timing.js';
import { tuckerDecompose } from '../decompose/tucker.js';
import type { LayerRanks } from '../decompose/ranks.js';

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

/**
 * Ranks keeping `fraction` of the channels of every group-1 Conv of `model`: [f Cin, f Cout] for a
 * spatial kernel, [r, r] with r = f min(Cin, Cout) for a 1x1 kernel, rounded to a multiple of
 * `multiple` (at least one multiple, at most the channel count). Rounding to 8 keeps every new channel
 * count on the block size of ORT's NCHWc convolution kernels (8 floats on AVX2): otherwise ORT falls
 * back to plain NCHW around the odd-sized layers and inserts layout reorders.
 */
export function fractionRanks(model: Model, fraction: number, multiple = 1): Record<string, LayerRanks> {
  if (!(fraction > 0 && fraction < 1)) throw new RebirthError(`rank fraction must be in (0, 1), got ${fraction}`);
  if (!(Number.isInteger(multiple) && multiple >= 1)) throw new RebirthError(`rank multiple must be a positive integer, got ${multiple}`);
  const out: Record<string, LayerRanks> = {};
  for (const n of model.graph.nodes) {
    if (n.opType !== 'Conv') continue;
    if (getInt(n, 'group', 1) !== 1) continue;
    const w = model.graph.initializers.get(n.inputs[1] ?? '');
    if (!w || w.dims.length < 3) continue;
    const [cout, cin, ...kernel] = w.dims as [number, number, ...number[]];
    const r = (c: number): number => Math.min(c, Math.max(multiple, Math.round((c * fraction) / multiple) * multiple));
    out[n.name || (n.outputs[0] ?? '')] = kernel.every((k) => k === 1) ? [r(Math.min(cin, cout)), r(Math.min(cin, cout))] : [r(cin), r(cout)];
  }
  return out;
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
