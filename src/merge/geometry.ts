/**
 * Sliding-window geometry of Conv and pooling along one spatial axis, and the composition that turns
 * "conv followed by pools" into one strided conv (streamline merging).
 *
 * Conventions: a window op reads input positions [i*stride - padBegin, i*stride - padBegin + kernel - 1]
 * for output i (dilation 1; dilated ops are refused before they get here). Output sizes follow ONNX
 * Runtime's CPU kernels, which for ceil_mode also drop a last window that would start in the end
 * padding (pool_attributes.h: `if ((out - 1) * stride >= in + pad_head) --out`); ONNX's own static shape
 * inference omits that correction (onnx/onnx#5741), so shapes are computed here (src/ops/dims.ts) rather
 * than trusted from a model file.
 */
import { samePads, windowOutput } from '../ops/dims.js';

export interface Window1D {
  kernel: number;
  stride: number;
  padBegin: number;
  padEnd: number;
  /** Pools only: Caffe-style ceil rounding of the output size. */
  ceil: boolean;
}

/** Number of outputs of a window op on an axis of `size` inputs, as ONNX Runtime computes it. */
export function windowOutputSize(size: number, w: Window1D): number {
  if (size + w.padBegin + w.padEnd < w.kernel) return 0;
  return windowOutput(size, w.kernel, w.stride, 1, w.padBegin, w.padEnd, w.ceil);
}

/**
 * Receptive field of a chain of window ops, each applied to the previous one's output. Output i of the
 * chain reads inputs [i*stride - padBegin, i*stride - padBegin + kernel - 1] where, with c_j the product
 * of the strides before op j (c_0 = 1):
 *   stride   = prod_j s_j
 *   kernel   = 1 + sum_j (k_j - 1) * c_j            (for conv + one pool: k + (kp - 1) * s_conv)
 *   padBegin = sum_j p_j * c_j                       (for conv + one pool: p_conv + p_pool * s_conv)
 * Derivation: op j's output i covers op j's inputs [i*s_j - p_j, i*s_j - p_j + k_j - 1]; substituting
 * the previous op's input range for each of those positions and taking the union gives the formulas by
 * induction. The result is the interval spanning the union; the union has holes only when some earlier op
 * has k < s (e.g. a 1x1 stride-2 conv), and then the merged conv also reads the skipped positions (with
 * zero weights under `inherit`), which any single conv covering the field has to do.
 */
export function composeWindows(chain: readonly Window1D[]): { kernel: number; stride: number; padBegin: number; scales: number[] } {
  let kernel = 1;
  let stride = 1;
  let padBegin = 0;
  const scales: number[] = [];
  for (const w of chain) {
    scales.push(stride);
    kernel += (w.kernel - 1) * stride;
    padBegin += w.padBegin * stride;
    stride *= w.stride;
  }
  return { kernel, stride, padBegin, scales };
}

/**
 * End padding that makes a floor-mode conv (kernel, stride, padBegin) produce exactly `target` outputs
 * from `size` inputs: floor((size + padBegin + padEnd - kernel) / stride) + 1 = target holds for
 * padEnd in [L, L + stride - 1] with L = (target - 1) * stride + kernel - size - padBegin. The smallest
 * non-negative one is taken; when even padEnd = 0 gives too many outputs (L + stride - 1 < 0) there is no
 * geometry and `undefined` is returned.
 */
export function solvePadEnd(size: number, target: number, kernel: number, stride: number, padBegin: number): number | undefined {
  if (target < 1 || padBegin < 0) return undefined;
  const low = (target - 1) * stride + kernel - size - padBegin;
  const padEnd = Math.max(0, low);
  if (padEnd > low + stride - 1) return undefined;
  return padEnd;
}

/** ONNX auto_pad resolved to explicit pads for one axis; undefined for NOTSET (use the pads attribute). */
export function resolveAutoPad(autoPad: string, size: number, kernel: number, stride: number): { padBegin: number; padEnd: number } | undefined {
  if (autoPad === 'VALID') return { padBegin: 0, padEnd: 0 };
  if (autoPad !== 'SAME_UPPER' && autoPad !== 'SAME_LOWER') return undefined;
  const [padBegin, padEnd] = samePads(size, kernel, stride, 1, autoPad === 'SAME_UPPER');
  return { padBegin, padEnd };
}
