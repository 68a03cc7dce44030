/**
 * Exact algebra of convolutions: a convolution is a linear map plus a bias, so two of them in a row, or
 * two reading the same input and summed, are again one convolution, computed here in float64.
 *
 * Notation, per spatial axis (the formulas hold axis by axis): a conv with kernel k, stride s, dilation d
 * and begin pad p reads, for output position q, the input positions q s + t d - p, t = 0..k-1, of the
 * input x zero-extended outside [0, H). Its output size is n = floor((H + p + e - (d (k - 1) + 1)) / s) + 1
 * (e: end pad).
 *
 * Sequence, B after A (`composeConvs`). B reads A's output y at q sB + tB dB - pB, and
 *   z[q] = bB + sum_tB WB[tB] y[q sB + tB dB - pB]
 *   y[r] = bA + sum_tA WA[tA] x[r sA + tA dA - pA]
 * so, wherever y[r] is A's formula (0 <= r < nA),
 *   z[q] = bB + (sum_tB WB[tB]) bA + sum_{tA,tB} WB[tB] WA[tA] x[q sA sB + (tB dB sA + tA dA) - (pA + sA pB)]:
 * one conv with stride sA sB, taps at offsets tB dB sA + tA dA (on a grid of dilation D = gcd(dA, dB sA),
 * so kernel (dA (kA - 1) + dB sA (kB - 1)) / D + 1: k1 + k2 - 1 for two stride-1 convs), begin pad
 * pA + sA pB and end pad eA + sA eB. Its output size is B's: with a = H + pA + eA - spanA,
 * floor((floor(a / sA) - (spanB - 1) + pB + eB) / sB) = floor((a - sA (spanB - 1 - pB - eB)) / (sA sB))
 * since floor(floor(u / m) / n) = floor(u / (m n)) for integers.
 *
 * The catch is the border. When B has padding it reads y at r < 0 (or r >= nA) and sees 0 there, where
 * the merged conv sees A's formula extended past the border, "y_ext[r]" = bA + (the taps of A that still
 * reach real input). The two agree for every x only if A's bias is 0 and A's window at every such r
 * that B reads lies entirely in x's zero padding (at the begin, for the r nearest the border,
 * r sA + dA (kA - 1) - pA < 0: with r = -1, dA (kA - 1) - pA < sA; at the end, r sA - pA >= H; B's
 * dilation and stride may skip the positions next to the border, so they are enumerated). Example:
 * two 3x3 'same' convs (pad 1 each): the merged 5x5 conv, pad
 * 2, at output 0 sees x[-2..2]; the original's B saw y[-1] = 0, the merged conv sees
 * y_ext[-1] = bA + WA[2] x[0] (+ WA[1..2] of the row below ...) != 0. So a zero-padded conv followed by
 * another padded conv is in general not one padded conv at the borders; `composeConvs` refuses it with
 * `padding: 'exact'`. With `padding: 'push'` it returns the conv whose B reads y_ext (the network in
 * which B's padding has been moved onto A, as pA + sA pB: A then computes y_ext on a border of pB rows
 * and B runs unpadded), which is exact for that network; the interior, every output whose B-window lies
 * inside [0, nA), is unchanged either way.
 *
 * Sum, A + B over the same input x with the same stride (`sumConvs`): align both windows in a common
 * frame starting at P = max(pA, pB); A's taps move by P - pA, B's by P - pB; the end pad is chosen so
 * the output size equals A's. Exact with no condition: both read the same zero-extended x.
 *
 * Groups: a conv with g groups is a dense conv whose weight is block diagonal. The composition's
 * connectivity (output o reaches input i through some middle channel) is computed structurally (not
 * from values, so an exactly-zero weight does not change the result's shape), and the result gets the
 * largest group count whose blocks contain it: depthwise after depthwise stays depthwise, a 1x1 dense
 * conv then a depthwise conv becomes dense.
 */
import { RebirthError } from '../errors.js';

export interface LinearConv {
  cin: number;
  cout: number;
  group: number;
  /** Spatial kernel extents (taps), strides, dilations, pads as in ONNX (all begins, then all ends). */
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  /** [cout, cin / group, ...kernel], row-major. */
  weight: Float64Array;
  /** One per output channel (zeros when the conv had none). */
  bias: Float64Array;
}

export type PaddingMode = 'exact' | 'push';

export interface ComposeOptions {
  /**
   * 'exact' (default): refuse where B's zero padding would see A's bias or real pixels in the merged
   * conv (see the file comment). 'push': compose as if B's padding had been moved onto A.
   */
  padding?: PaddingMode;
  /** Spatial size of A's input, needed to decide the end border exactly; unknown means refuse there. */
  inputSize?: readonly number[];
}

const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

function gcd(a: number, b: number): number {
  let x = Math.abs(a);
  let y = Math.abs(b);
  while (y) [x, y] = [y, x % y];
  return x;
}

export function spatialRank(c: LinearConv): number {
  return c.kernel.length;
}

/** Input extent covered by one window: d (k - 1) + 1. */
export function span(c: Pick<LinearConv, 'kernel' | 'dilations'>, axis: number): number {
  return (c.dilations[axis] as number) * ((c.kernel[axis] as number) - 1) + 1;
}

/** Output spatial size for input `size` (no check that it is positive). */
export function outputSize(c: Pick<LinearConv, 'kernel' | 'dilations' | 'pads' | 'strides'>, size: readonly number[]): number[] {
  const s = c.kernel.length;
  return size.map((h, i) => Math.floor((h + (c.pads[i] as number) + (c.pads[i + s] as number) - span(c, i)) / (c.strides[i] as number)) + 1);
}

/** Multiply-accumulates per output position. */
export function macsPerOutput(c: LinearConv): number {
  return c.cout * (c.cin / c.group) * product(c.kernel);
}

/** The shape of identityConv. */
export function identityShape(channels: number, rank = 2): ConvShape {
  return {
    cin: channels, cout: channels, group: channels, kernel: new Array<number>(rank).fill(1), strides: new Array<number>(rank).fill(1),
    dilations: new Array<number>(rank).fill(1), pads: new Array<number>(2 * rank).fill(0), biased: false,
  };
}

/** A 1x1 conv that copies its input: C channels, group C, weight 1. */
export function identityConv(channels: number, rank = 2): LinearConv {
  return {
    cin: channels, cout: channels, group: channels, kernel: new Array<number>(rank).fill(1), strides: new Array<number>(rank).fill(1),
    dilations: new Array<number>(rank).fill(1), pads: new Array<number>(2 * rank).fill(0),
    weight: new Float64Array(channels).fill(1), bias: new Float64Array(channels),
  };
}

/** Row-major strides of a kernel's taps. */
function tapStrides(kernel: readonly number[]): number[] {
  const st = new Array<number>(kernel.length).fill(1);
  for (let i = kernel.length - 2; i >= 0; i--) st[i] = (st[i + 1] as number) * (kernel[i + 1] as number);
  return st;
}

/** Every tap of `kernel` as its multi-index. */
function taps(kernel: readonly number[]): number[][] {
  const out: number[][] = [];
  const n = product(kernel);
  for (let t = 0; t < n; t++) {
    const idx: number[] = [];
    let rest = t;
    for (let i = kernel.length - 1; i >= 0; i--) {
      idx[i] = rest % (kernel[i] as number);
      rest = Math.floor(rest / (kernel[i] as number));
    }
    out.push(idx);
  }
  return out;
}

/** Input channels [first, first + count) of the group of output channel `o`. */
function inputRangeOf(c: Pick<LinearConv, 'cin' | 'cout' | 'group'>, o: number): [number, number] {
  const perGroupOut = c.cout / c.group;
  const perGroupIn = c.cin / c.group;
  const g = Math.floor(o / perGroupOut);
  return [g * perGroupIn, perGroupIn];
}

/** Largest group count g (dividing cin and cout) whose blocks contain every (o, reachable input range). */
function coarsestGroups(cin: number, cout: number, reach: ReadonlyArray<readonly [number, number]>): number {
  for (let g = gcd(cin, cout); g > 1; g--) {
    if (cin % g !== 0 || cout % g !== 0) continue;
    const inPer = cin / g;
    const outPer = cout / g;
    let ok = true;
    for (let o = 0; o < cout && ok; o++) {
      const [lo, hi] = reach[o] as [number, number];
      const block = Math.floor(o / outPer);
      ok = lo >= block * inPer && hi < (block + 1) * inPer;
    }
    if (ok) return g;
  }
  return 1;
}

export function validateConv(c: LinearConv, what: string): void {
  const s = spatialRank(c);
  const bad = (msg: string): never => {
    throw new RebirthError(`${what}: ${msg}`);
  };
  if (s < 1) bad('a convolution needs at least one spatial axis');
  if (c.strides.length !== s || c.dilations.length !== s || c.pads.length !== 2 * s) bad('strides, dilations and pads must match the kernel rank');
  if (c.group < 1 || c.cin % c.group !== 0 || c.cout % c.group !== 0) bad(`group ${c.group} must divide ${c.cin} inputs and ${c.cout} outputs`);
  if (c.weight.length !== c.cout * (c.cin / c.group) * product(c.kernel)) bad('weight size does not match [cout, cin/group, kernel]');
  if (c.bias.length !== c.cout) bad(`bias has ${c.bias.length} values for ${c.cout} channels`);
}

/**
 * Why B after A is not one conv exactly, or undefined when it is (see the file comment). Per axis, the
 * positions of A's output that B actually reads outside [0, nA) are enumerated (with a dilation or a
 * stride B may skip the ones next to the border), and A's window at each must lie in x's zero padding,
 * with A's bias 0. `inputSize` is A's input spatial size; without it the end border is refused when B
 * pads there.
 */
export function compositionBorderProblem(a: ConvShape, b: ConvShape, inputSize: readonly number[] | undefined): string | undefined {
  const s = a.kernel.length;
  const biased = a.biased;
  const sizeA = inputSize ? outputSize(a, inputSize) : undefined;
  const sizeB = sizeA ? outputSize(b, sizeA) : undefined;
  const biasProblem = 'the second conv pads the first one\'s output with zeros, where the merged conv would see the first conv\'s bias';
  for (let i = 0; i < s; i++) {
    const pb = b.pads[i] as number;
    const sA = a.strides[i] as number;
    const pA = a.pads[i] as number;
    const sB = b.strides[i] as number;
    const dB = b.dilations[i] as number;
    const kB = b.kernel[i] as number;
    // Begin: the largest negative position B reads, from its first outputs (q = p sB + t dB - pB).
    let nearest = -Infinity;
    for (let p = 0; p * sB < pb; p++) {
      for (let t = 0; t < kB; t++) {
        const q = p * sB + t * dB - pb;
        if (q < 0) nearest = Math.max(nearest, q);
      }
    }
    if (nearest > -Infinity) {
      if (biased) return biasProblem;
      if (nearest * sA + span(a, i) - 1 - pA >= 0) return `the second conv's padding on axis ${i} covers outputs of the first conv that read real pixels, which the merged conv would add in`;
    }
    // End: the smallest position at or past A's last output that B reads.
    const eb = b.pads[i + s] as number;
    if (sizeA && sizeB && inputSize) {
      const na = sizeA[i] as number;
      let first = Infinity;
      for (let p = Math.max(0, (sizeB[i] as number) - Math.ceil((eb + span(b, i)) / sB) - 1); p < (sizeB[i] as number); p++) {
        for (let t = 0; t < kB; t++) {
          const q = p * sB + t * dB - pb;
          if (q >= na) first = Math.min(first, q);
        }
      }
      if (first < Infinity) {
        if (biased) return biasProblem;
        if (first * sA - pA < (inputSize[i] as number)) {
          return `the second conv's end padding on axis ${i} covers outputs of the first conv that read real pixels, which the merged conv would add in`;
        }
      }
    } else if (eb > 0) {
      return `the second conv has end padding on axis ${i} and the input size is unknown, so the border cannot be checked`;
    }
  }
  return undefined;
}

/** The shape of a conv without its weights: what composing and filtering need before any arithmetic. */
export type ConvShape = Omit<LinearConv, 'weight' | 'bias'> & { biased: boolean };

export function shapeOf(c: LinearConv): ConvShape {
  return { cin: c.cin, cout: c.cout, group: c.group, kernel: c.kernel, strides: c.strides, dilations: c.dilations, pads: c.pads, biased: c.bias.some((v) => v !== 0) };
}

/**
 * The geometry composeConvs would give B after A, without computing weights (group count from the
 * same structural connectivity), with the same border check in 'exact' mode.
 */
export function composeShapes(a: ConvShape, b: ConvShape, options: ComposeOptions = {}): ConvShape | string {
  const s = a.kernel.length;
  if (b.kernel.length !== s) return `the convolutions have ${s} and ${b.kernel.length} spatial axes`;
  if (b.cin !== a.cout) return `the second conv takes ${b.cin} channels, the first gives ${a.cout}`;
  if ((options.padding ?? 'exact') === 'exact') {
    const problem = compositionBorderProblem(a, b, options.inputSize);
    if (problem) return problem;
  }
  const strides: number[] = [];
  const dilations: number[] = [];
  const kernel: number[] = [];
  const pads = new Array<number>(2 * s).fill(0);
  for (let i = 0; i < s; i++) {
    const sA = a.strides[i] as number;
    const dA = a.dilations[i] as number;
    const stepB = (b.dilations[i] as number) * sA;
    const kA = a.kernel[i] as number;
    const kB = b.kernel[i] as number;
    // Every merged offset tB dB sA + tA dA is a multiple of gcd(dA, dB sA); a kernel of one tap on an
    // axis contributes no offset and does not constrain the grid.
    const d = gcd(kA > 1 ? dA : 0, kB > 1 ? stepB : 0) || 1;
    strides.push(sA * (b.strides[i] as number));
    dilations.push(d);
    kernel.push((dA * (kA - 1) + stepB * (kB - 1)) / d + 1);
    pads[i] = (a.pads[i] as number) + sA * (b.pads[i] as number);
    pads[i + s] = (a.pads[i + s] as number) + sA * (b.pads[i + s] as number);
  }
  // Connectivity: output o of B reaches B's group's middle channels, each of which reaches A's group's inputs.
  const reach: Array<[number, number]> = [];
  for (let o = 0; o < b.cout; o++) {
    const [m0, mCount] = inputRangeOf(b, o);
    const [lo] = inputRangeOf(a, m0);
    const [hiStart, hiCount] = inputRangeOf(a, m0 + mCount - 1);
    reach.push([lo, hiStart + hiCount - 1]);
  }
  return { cin: a.cin, cout: b.cout, group: coarsestGroups(a.cin, b.cout, reach), kernel, strides, dilations, pads, biased: a.biased || b.biased };
}

/** Multiply-accumulates per output position of a conv shape. */
export function shapeMacs(c: Pick<ConvShape, 'cout' | 'cin' | 'group' | 'kernel'>): number {
  return c.cout * (c.cin / c.group) * product(c.kernel);
}

/** B after A as one conv, or the reason it is not exact (padding 'exact' only). */
export function composeConvs(a: LinearConv, b: LinearConv, options: ComposeOptions = {}): LinearConv | string {
  // The geometry (and the refusals) are composeShapes'; only the weights are computed here.
  const shape = composeShapes(shapeOf(a), shapeOf(b), options);
  if (typeof shape === 'string') return shape;
  const { group, kernel, strides, dilations, pads } = shape;
  const inPer = a.cin / group;
  const outPer = b.cout / group;
  const kSize = product(kernel);
  const weight = new Float64Array(b.cout * inPer * kSize);
  const bias = new Float64Array(b.cout);
  const tapsA = taps(a.kernel);
  const tapsB = taps(b.kernel);
  const stM = tapStrides(kernel);
  // Merged tap index of (tA, tB), flattened.
  const offsetA = Int32Array.from(tapsA, (t) => t.reduce((acc, ti, i) => acc + ((ti * (a.dilations[i] as number)) / (dilations[i] as number)) * (stM[i] as number), 0));
  const offsetB = Int32Array.from(tapsB, (t) => t.reduce((acc, ti, i) => acc + ((ti * (b.dilations[i] as number) * (a.strides[i] as number)) / (dilations[i] as number)) * (stM[i] as number), 0));
  const kA = tapsA.length;
  const kB = tapsB.length;
  const aInPer = a.cin / a.group;
  const bInPer = b.cin / b.group;
  const wA = a.weight;
  const wB = b.weight;
  if (a.group === 1 && b.group === 1) {
    denseCompose(a, b, weight, bias, kSize, offsetA, offsetB);
    return { cin: a.cin, cout: b.cout, group, kernel, strides, dilations, pads, weight, bias };
  }
  for (let o = 0; o < b.cout; o++) {
    const [m0, mCount] = inputRangeOf(b, o);
    const base = Math.floor(o / outPer) * inPer;
    let biasAcc = b.bias[o] as number;
    for (let mm = 0; mm < mCount; mm++) {
      const m = m0 + mm;
      const [i0, iCount] = inputRangeOf(a, m);
      for (let tb = 0; tb < kB; tb++) {
        const wb = wB[(o * bInPer + mm) * kB + tb] as number;
        if (wb === 0) continue;
        biasAcc += wb * (a.bias[m] as number);
        const ob = offsetB[tb] as number;
        for (let ii = 0; ii < iCount; ii++) {
          const src = (m * aInPer + ii) * kA;
          const dst = (o * inPer + (i0 + ii - base)) * kSize + ob;
          for (let ta = 0; ta < kA; ta++) {
            const at = dst + (offsetA[ta] as number);
            weight[at] = (weight[at] as number) + wb * (wA[src + ta] as number);
          }
        }
      }
    }
    bias[o] = biasAcc;
  }
  return { cin: a.cin, cout: b.cout, group, kernel, strides, dilations, pads, weight, bias };
}

/**
 * composeConvs for two dense convs, as kA x kB matrix products: for each tap pair,
 * W[:, :, offset(tA) + offset(tB)] += WB[:, :, tB] WA[:, :, tA] (cout x cmid times cmid x cin). The
 * same arithmetic as the general loop, ordered so that the innermost loop runs over contiguous input
 * channels (per-tap copies of A and of the result are laid out tap-major), several times faster for
 * the wide layers of ImageNet networks.
 */
function denseCompose(a: LinearConv, b: LinearConv, weight: Float64Array, bias: Float64Array, kSize: number, offsetA: Int32Array, offsetB: Int32Array): void {
  const cin = a.cin;
  const cmid = a.cout;
  const cout = b.cout;
  const kA = offsetA.length;
  const kB = offsetB.length;
  // A as [tA][m][i], the result as [tap][o][i].
  const aT = new Float64Array(kA * cmid * cin);
  for (let m = 0; m < cmid; m++) {
    for (let i = 0; i < cin; i++) for (let t = 0; t < kA; t++) aT[(t * cmid + m) * cin + i] = a.weight[(m * cin + i) * kA + t] as number;
  }
  const out = new Float64Array(kSize * cout * cin);
  for (let tb = 0; tb < kB; tb++) {
    for (let ta = 0; ta < kA; ta++) {
      const tap = (offsetA[ta] as number) + (offsetB[tb] as number);
      for (let o = 0; o < cout; o++) {
        const dst = (tap * cout + o) * cin;
        for (let m = 0; m < cmid; m++) {
          const wb = b.weight[(o * cmid + m) * kB + tb] as number;
          if (wb === 0) continue;
          const src = (ta * cmid + m) * cin;
          for (let i = 0; i < cin; i++) out[dst + i] = (out[dst + i] as number) + wb * (aT[src + i] as number);
        }
      }
    }
  }
  for (let o = 0; o < cout; o++) {
    for (let i = 0; i < cin; i++) for (let t = 0; t < kSize; t++) weight[(o * cin + i) * kSize + t] = out[(t * cout + o) * cin + i] as number;
    let acc = b.bias[o] as number;
    for (let m = 0; m < cmid; m++) {
      let sum = 0;
      for (let tb = 0; tb < kB; tb++) sum += b.weight[(o * cmid + m) * kB + tb] as number;
      acc += sum * (a.bias[m] as number);
    }
    bias[o] = acc;
  }
}

interface SumGeometry {
  kernel: number[];
  dilations: number[];
  pads: number[];
  /** Per axis, each branch's tap shift in the common frame (in units of the common dilation). */
  shifts: Array<[number, number]>;
}

function sumGeometry(a: Omit<ConvShape, 'biased'>, b: Omit<ConvShape, 'biased'>, inputSize?: readonly number[]): SumGeometry | string {
  const s = a.kernel.length;
  if (b.kernel.length !== s) return `the convolutions have ${s} and ${b.kernel.length} spatial axes`;
  if (a.cin !== b.cin || a.cout !== b.cout) return `the branches map ${a.cin}->${a.cout} and ${b.cin}->${b.cout} channels`;
  if (b.strides.some((st, i) => st !== a.strides[i])) return `the branches have strides [${a.strides.join(',')}] and [${b.strides.join(',')}]`;
  const kernel: number[] = [];
  const dilations: number[] = [];
  const pads = new Array<number>(2 * s).fill(0);
  const shifts: Array<[number, number]> = [];
  for (let i = 0; i < s; i++) {
    const pa = a.pads[i] as number;
    const pb = b.pads[i] as number;
    const p = Math.max(pa, pb);
    const shiftA = p - pa;
    const shiftB = p - pb;
    const step = (c: Omit<ConvShape, 'biased'>): number => ((c.kernel[i] as number) > 1 ? (c.dilations[i] as number) : 0);
    const d = gcd(gcd(step(a), step(b)), gcd(shiftA, shiftB)) || 1;
    const extent = Math.max(span(a, i) - 1 + shiftA, span(b, i) - 1 + shiftB);
    kernel.push(extent / d + 1);
    dilations.push(d);
    pads[i] = p;
    shifts.push([shiftA / d, shiftB / d]);
    // End pad giving A's output size: the same numerator H + p + e - span as A's.
    const spanC = extent + 1;
    const e = (a.pads[i + s] as number) + pa - span(a, i) + spanC - p;
    pads[i + s] = e;
    const numeratorB = pb + (b.pads[i + s] as number) - span(b, i);
    const numeratorC = p + e - spanC;
    if (numeratorB !== numeratorC) {
      const st = a.strides[i] as number;
      const h = inputSize?.[i];
      if (h === undefined || Math.floor((h + numeratorB) / st) !== Math.floor((h + numeratorC) / st)) {
        return `the branches give different output sizes on axis ${i}${h === undefined ? ' (or the input size is unknown)' : ''}`;
      }
    }
  }
  return { kernel, dilations, pads, shifts };
}

/** The geometry sumConvs would give, without weights. */
export function sumShapes(a: ConvShape, b: ConvShape, inputSize?: readonly number[]): ConvShape | string {
  const g = sumGeometry(a, b, inputSize);
  if (typeof g === 'string') return g;
  return { cin: a.cin, cout: a.cout, group: gcd(a.group, b.group), kernel: g.kernel, strides: [...a.strides], dilations: g.dilations, pads: g.pads, biased: a.biased || b.biased };
}

/**
 * A + B over the same input as one conv (see the file comment), or why not. `inputSize` (the common
 * input's spatial size) lets the output sizes be compared; without it the two must agree symbolically.
 */
export function sumConvs(a: LinearConv, b: LinearConv, inputSize?: readonly number[]): LinearConv | string {
  const geometry = sumGeometry(a, b, inputSize);
  if (typeof geometry === 'string') return geometry;
  const { kernel, dilations, pads, shifts } = geometry;
  const strides = [...a.strides];
  const group = gcd(a.group, b.group);
  const inPer = a.cin / group;
  const kSize = product(kernel);
  const weight = new Float64Array(a.cout * inPer * kSize);
  const bias = new Float64Array(a.cout);
  const stM = tapStrides(kernel);
  [a, b].forEach((c, which) => {
    const cTaps = taps(c.kernel);
    const offsets = cTaps.map((t) => t.reduce((acc, ti, i) => {
      const shift = (shifts[i] as [number, number])[which] as number;
      return acc + (ti * ((c.dilations[i] as number) / (dilations[i] as number)) + shift) * (stM[i] as number);
    }, 0));
    const cInPer = c.cin / c.group;
    for (let o = 0; o < c.cout; o++) {
      const [i0, iCount] = inputRangeOf(c, o);
      const base = Math.floor(o / (c.cout / group)) * inPer;
      bias[o] = (bias[o] as number) + (c.bias[o] as number);
      for (let ii = 0; ii < iCount; ii++) {
        const src = (o * cInPer + ii) * cTaps.length;
        const dst = (o * inPer + (i0 + ii - base)) * kSize;
        for (let t = 0; t < cTaps.length; t++) weight[dst + (offsets[t] as number)] = (weight[dst + (offsets[t] as number)] as number) + (c.weight[src + t] as number);
      }
    }
  });
  return { cin: a.cin, cout: a.cout, group, kernel, strides, dilations, pads, weight, bias };
}

/**
 * Move B's padding onto A (A's pads += sA * B's pads, B unpadded): the network change that makes B
 * after A exactly one conv ('push' in composeConvs). Returns the new pads of A and B.
 */
export function pushPadding(a: LinearConv, b: LinearConv): { a: number[]; b: number[] } {
  const s = spatialRank(a);
  const padsA = a.pads.map((p, i) => p + (a.strides[i % s] as number) * (b.pads[i] as number));
  return { a: padsA, b: new Array<number>(2 * s).fill(0) };
}
