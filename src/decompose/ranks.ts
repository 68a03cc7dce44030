import * as fs from 'node:fs';
import { RebirthError, errorMessage } from '../errors.js';
import { getInt } from '../ir/attributes.js';
import type { Model } from '../ir/graph.js';

/** [R_in, R_out]: input-channel and output-channel ranks; SVD layers (1x1 conv, FC) take [r, r]. */
export type LayerRanks = [number, number];

/**
 * Read a ranks file: a JSON object mapping layer (node) names to [R_in, R_out], e.g.
 * {"inception_3a/3x3": [48, 64], "loss3/classifier": [256, 256]}.
 * Checks the form here; whether the layers exist and the ranks fit is checked against the model.
 */
export function loadTuckerRanks(file: string): Record<string, LayerRanks> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new RebirthError(`ranks file ${file} cannot be read; check the path`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new RebirthError(`ranks file ${file} is not valid JSON (${errorMessage(e)}); expected {"layer": [rin, rout]}`);
  }
  return checkRanksRecord(parsed, `ranks file ${file}`);
}

/** Validate the shape of a ranks record (from a file or an API caller); `source` names it in errors. */
export function checkRanksRecord(value: unknown, source: string): Record<string, LayerRanks> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RebirthError(`${source} must be a JSON object {"layer": [rin, rout]}`);
  }
  const out: Record<string, LayerRanks> = {};
  for (const [layer, ranks] of Object.entries(value)) {
    if (!Array.isArray(ranks) || ranks.length !== 2 || !ranks.every((r) => typeof r === 'number')) {
      throw new RebirthError(`${source}: layer '${layer}' needs two ranks [rin, rout], got ${JSON.stringify(ranks)}`);
    }
    const [rin, rout] = ranks as [number, number];
    for (const r of [rin, rout]) {
      if (!Number.isInteger(r) || r < 1) {
        throw new RebirthError(`${source}: layer '${layer}' has rank ${r}; ranks must be positive integers`);
      }
    }
    out[layer] = [rin, rout];
  }
  return out;
}

/** Smallest rank whose leading singular values keep `energy` of sum(s^2) (at least 1). */
export function energyRank(s: ArrayLike<number>, energy: number): number {
  let total = 0;
  for (let i = 0; i < s.length; i++) total += (s[i] as number) ** 2;
  if (total === 0) return 1;
  let kept = 0;
  for (let i = 0; i < s.length; i++) {
    kept += (s[i] as number) ** 2;
    // Relative slack: sum order and rounding must not push energy 1 past the last value.
    if (kept >= energy * total * (1 - 1e-12)) return i + 1;
  }
  return s.length;
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
