/**
 * Seeded pseudo-random numbers: xoshiro128** (Blackman & Vigna), seeded through splitmix32.
 *
 * Why this generator: 128 bits of state (no short cycles over a few million draws per epoch, unlike
 * a 32-bit-state generator such as mulberry32), passes BigCrush, and needs only 32-bit integer ops,
 * which JavaScript does exactly with Math.imul and `| 0`. Results are identical on every platform,
 * which is what lets a training run resume bit-exactly.
 */

/** Anything indexable and writable: plain arrays and every typed array. */
export interface MutableArrayLike<T> {
  readonly length: number;
  [index: number]: T;
}

/** One splitmix32 step: a bijective mix of a 32-bit value, used to expand seeds into state words. */
function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

/**
 * Fold a seed and any number of stream keys (epoch, batch index, ...) into one 32-bit value.
 * Each key goes through splitmix32 after being combined, so (seed, 1, 2) and (seed, 2, 1) differ.
 * Seeds may be any safe integer: the high 21 bits are folded in so 2^32 + 1 and 1 differ.
 */
export function deriveSeed(seed: number, ...streams: readonly number[]): number {
  let h = 0x6a09e667;
  for (const v of [seed, ...streams]) {
    if (!Number.isSafeInteger(v)) throw new RangeError(`random seed/stream must be a safe integer, got ${v}`);
    const lo = v >>> 0;
    const hi = Math.floor(v / 0x100000000) >>> 0;
    h = splitmix32(h ^ lo);
    h = splitmix32(h ^ hi);
  }
  return h;
}

const TWO_POW_MINUS_24 = 1 / 16777216;

export class Random {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** Same (seed, ...streams) → same sequence. Streams give independent sequences from one user seed. */
  constructor(seed: number, ...streams: readonly number[]) {
    let x = deriveSeed(seed, ...streams);
    x = splitmix32(x);
    this.s0 = x;
    x = splitmix32(x);
    this.s1 = x;
    x = splitmix32(x);
    this.s2 = x;
    x = splitmix32(x);
    this.s3 = x;
    // xoshiro's only forbidden state is all zeros; splitmix32 of distinct chained inputs cannot give
    // four zeros in practice, but guard anyway since the cost is nil.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** The four state words, to save a generator mid-sequence (e.g. in a training checkpoint). */
  getState(): [number, number, number, number] {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  /** Restore a state from getState(); the sequence continues exactly where it was saved. */
  setState(state: readonly [number, number, number, number]): void {
    if (state.length !== 4 || state.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff)) {
      throw new RangeError('Random state must be four unsigned 32-bit integers');
    }
    if (state.every((w) => w === 0)) throw new RangeError('Random state must not be all zeros');
    [this.s0, this.s1, this.s2, this.s3] = [state[0] | 0, state[1] | 0, state[2] | 0, state[3] | 0];
  }

  /** Next raw 32-bit unsigned integer. */
  nextUint32(): number {
    const s1 = this.s1;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r >>> 0;
  }

  /**
   * Uniform in [0, 1) with 24 bits of resolution. 24 (not 32 or 53) because results usually end up in
   * a Float32Array: with more bits, values just below 1 would round up to exactly 1.0 in float32.
   */
  nextFloat(): number {
    return (this.nextUint32() >>> 8) * TWO_POW_MINUS_24;
  }

  /** Uniform integer in [0, n), without modulo bias (rejection of the top partial range). */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 0x100000000) {
      throw new RangeError(`nextInt(n) needs an integer 1 <= n <= 2^32, got ${n}`);
    }
    // Largest multiple of n that fits in 2^32: draws at or above it would favour small results.
    const limit = 0x100000000 - (0x100000000 % n);
    for (;;) {
      const u = this.nextUint32();
      if (u < limit) return u % n;
    }
  }

  /**
   * Standard normal sample by Box-Muller. The second value of each pair is deliberately discarded:
   * caching it would add hidden state that getState() could not capture, breaking exact resume.
   */
  normal(mean = 0, std = 1): number {
    // 1 - u is in (0, 1], so the log is finite.
    const u1 = 1 - this.nextFloat();
    const u2 = this.nextFloat();
    return mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Fisher-Yates shuffle (uniform over permutations); returns the same array for chaining. */
  shuffleInPlace<A extends MutableArrayLike<unknown>>(array: A): A {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
