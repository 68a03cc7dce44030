import * as fs from 'node:fs';
import { RebirthError, errorMessage } from '../errors.js';

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
