// Seeded random inputs from session metadata (ORT's TensorInfo), for timing and profiling a model whose
// feeds the caller did not give. One generator for Node and the bench page (src/runtime/page/runner.ts),
// so a model is timed on the same inputs wherever it runs. Verification (src/rewrite/verify.ts) draws
// its own from the ONNX graph instead: it runs before any session exists and covers integer inputs.
import { RebirthError } from '../errors.js';
import { formatShape } from '../ops/dims.js';
import type { HostTensor, TensorInfo } from './backends.js';

// mulberry32: tiny, seedable, good enough for benchmark inputs.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded uniform [-1, 1) inputs for the float inputs described by `inputs` (also used by the browser page). */
export function randomFeeds(
  inputs: readonly TensorInfo[],
  shapes: Readonly<Record<string, number[]>> = {},
  seed = 1,
): Record<string, HostTensor> {
  const next = rng(seed);
  const feeds: Record<string, HostTensor> = {};
  for (const input of inputs) {
    const dims = shapes[input.name] ?? concreteDims(input);
    const n = dims.reduce((a, b) => a * b, 1);
    if (input.type === 'float32') {
      feeds[input.name] = { type: 'float32', dims, data: Float32Array.from({ length: n }, () => next() * 2 - 1) };
    } else if (input.type === 'float64') {
      feeds[input.name] = { type: 'float64', dims, data: Float64Array.from({ length: n }, () => next() * 2 - 1) };
    } else {
      throw new RebirthError(
        `input '${input.name}' has type ${input.type}; random inputs are only generated for floats: pass feeds`,
      );
    }
  }
  return feeds;
}

function concreteDims(input: TensorInfo): number[] {
  // A symbolic leading dim is the batch: profile batch 1. Any other symbolic dim (H, W, seq) has no
  // safe default.
  if (input.dims.every((d, i) => typeof d === 'number' || i === 0)) return input.dims.map((d) => (typeof d === 'number' ? d : 1));
  // Library and CLI users both reach this, so the message names the fix for each, in the words of the
  // CLI's own check (src/cli/input-shape.ts). ORT reports an unnamed symbolic dim as ''.
  const shown = input.dims.map((d) => (d === '' ? null : d));
  const flag = input.dims.map((d, i) => (typeof d === 'number' ? String(d) : i === 0 ? '1' : `<${d || `dim${i}`}>`));
  throw new RebirthError(
    `input '${input.name}' has symbolic dims ${formatShape(shown)}; pass --input-shape ${input.name}=${flag.join(',')} (library: inputShapes: { '${input.name}': [...] })`,
  );
}
