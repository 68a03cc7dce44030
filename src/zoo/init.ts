/**
 * Seeded weight initialisation for the zoo.
 *
 * Every parameter tensor draws from its own generator, keyed by (seed, hash of the tensor's name), so a
 * layer's weights depend only on the seed and the layer's name: adding or resizing one layer leaves the
 * weights of every other layer bit-identical, which keeps before/after comparisons between zoo variants
 * meaningful.
 */
import { Random } from '../util/random.js';

/** FNV-1a over the UTF-16 code units of `text`: a stable 32-bit stream key for a parameter name. */
export function nameKey(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function paramRandom(seed: number, paramName: string): Random {
  return new Random(seed, nameKey(paramName));
}

/** Uniform values in [low, high). */
export function fillUniform(rng: Random, out: Float32Array, low: number, high: number): Float32Array {
  const span = high - low;
  for (let i = 0; i < out.length; i++) out[i] = low + span * rng.nextFloat();
  return out;
}

/**
 * Normal values by Box-Muller, using both values of each pair (Random.normal discards the second to keep
 * its state resumable; here the generator is private to one tensor, so nothing is lost, and resnet152's
 * 60M weights take half the time).
 */
export function fillNormal(rng: Random, out: Float32Array, mean: number, std: number): Float32Array {
  for (let i = 0; i < out.length; i += 2) {
    const radius = std * Math.sqrt(-2 * Math.log(1 - rng.nextFloat()));
    const angle = 2 * Math.PI * rng.nextFloat();
    out[i] = mean + radius * Math.cos(angle);
    if (i + 1 < out.length) out[i + 1] = mean + radius * Math.sin(angle);
  }
  return out;
}

/**
 * Fans of a weight laid out [out, in/group, k...] (Conv) or [out, in] (Gemm with transB=1), as PyTorch
 * computes them: fan_in = in/group x receptive field, fan_out = out x receptive field.
 */
export function fans(dims: readonly number[]): { fanIn: number; fanOut: number } {
  const receptive = dims.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: (dims[1] ?? 1) * receptive, fanOut: (dims[0] ?? 1) * receptive };
}

/** Glorot & Bengio (2010) uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out)), keeping Var = 2 / (fan_in + fan_out). */
export function xavierUniform(rng: Random, dims: readonly number[]): Float32Array {
  const { fanIn, fanOut } = fans(dims);
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return fillUniform(rng, new Float32Array(count(dims)), -limit, limit);
}

/** He et al. (2015) normal, fan-in mode: N(0, 2 / fan_in), which keeps activation variance through a ReLU. */
export function heNormal(rng: Random, dims: readonly number[]): Float32Array {
  const { fanIn } = fans(dims);
  return fillNormal(rng, new Float32Array(count(dims)), 0, Math.sqrt(2 / fanIn));
}

function count(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}
