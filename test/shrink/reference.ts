/** A direct float64 convolution (NCHW, one image) to check the conv algebra against, and random convs. */
import type { LinearConv } from '../../src/rewrite/linear-conv.js';
import { Random } from '../../src/util/random.js';

export interface Image {
  c: number;
  h: number;
  w: number;
  data: Float64Array;
}

export function randomImage(c: number, h: number, w: number, seed: number): Image {
  const rng = new Random(seed);
  return { c, h, w, data: Float64Array.from({ length: c * h * w }, () => rng.normal(0, 1)) };
}

/** y = conv(x) by the definition: x zero outside [0, H) x [0, W). */
export function convolve(x: Image, k: LinearConv): Image {
  const [kh, kw] = k.kernel as [number, number];
  const [sh, sw] = k.strides as [number, number];
  const [dh, dw] = k.dilations as [number, number];
  const [pt, pl, pb, pr] = k.pads as [number, number, number, number];
  const oh = Math.floor((x.h + pt + pb - (dh * (kh - 1) + 1)) / sh) + 1;
  const ow = Math.floor((x.w + pl + pr - (dw * (kw - 1) + 1)) / sw) + 1;
  const inPer = k.cin / k.group;
  const outPer = k.cout / k.group;
  const y = new Float64Array(k.cout * oh * ow);
  for (let o = 0; o < k.cout; o++) {
    const g = Math.floor(o / outPer);
    for (let r = 0; r < oh; r++) {
      for (let c = 0; c < ow; c++) {
        let acc = k.bias[o] as number;
        for (let ii = 0; ii < inPer; ii++) {
          const i = g * inPer + ii;
          for (let a = 0; a < kh; a++) {
            const yy = r * sh + a * dh - pt;
            if (yy < 0 || yy >= x.h) continue;
            for (let b = 0; b < kw; b++) {
              const xx = c * sw + b * dw - pl;
              if (xx < 0 || xx >= x.w) continue;
              acc += (k.weight[((o * inPer + ii) * kh + a) * kw + b] as number) * (x.data[(i * x.h + yy) * x.w + xx] as number);
            }
          }
        }
        y[(o * oh + r) * ow + c] = acc;
      }
    }
  }
  return { c: k.cout, h: oh, w: ow, data: y };
}

export function randomConv(rng: Random, spec: {
  cin: number; cout: number; group?: number; k: [number, number]; s?: [number, number]; d?: [number, number]; pads?: [number, number, number, number]; bias?: boolean;
}): LinearConv {
  const group = spec.group ?? 1;
  const n = spec.cout * (spec.cin / group) * spec.k[0] * spec.k[1];
  return {
    cin: spec.cin, cout: spec.cout, group, kernel: [...spec.k], strides: [...(spec.s ?? [1, 1])], dilations: [...(spec.d ?? [1, 1])],
    pads: [...(spec.pads ?? [0, 0, 0, 0])],
    weight: Float64Array.from({ length: n }, () => rng.normal(0, 0.5)),
    bias: spec.bias === false ? new Float64Array(spec.cout) : Float64Array.from({ length: spec.cout }, () => rng.normal(0, 0.5)),
  };
}

export function maxAbsDiff(a: Image, b: Image): number {
  if (a.c !== b.c || a.h !== b.h || a.w !== b.w) return Infinity;
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs((a.data[i] as number) - (b.data[i] as number)));
  return m;
}

export function add(a: Image, b: Image): Image {
  return { ...a, data: a.data.map((v, i) => v + (b.data[i] as number)) };
}
