// Numerical check of a rewrite: run the original and the optimized model on ONNX Runtime with the same
// inputs (seeded random ones, plus any the caller gives) and compare every graph output.
import type { Model, ValueInfo } from '../ir/graph.js';
import { DataType, dataTypeName, halfToFloat } from '../ir/tensor.js';
import { encodeModel } from '../onnx/encode.js';
import { Session, type Backend, type HostTensor } from '../runtime/session.js';
import { Random } from '../util/random.js';
import { RebirthError } from '../errors.js';

export interface VerifyOptions {
  /** Default 'node'. */
  backend?: Backend;
  /** Largest accepted relative error per output (default 1e-4). */
  tolerance?: number;
  /** Input sets to run besides the random ones (feeds by input name). */
  inputs?: ReadonlyArray<Record<string, HostTensor>>;
  /** Number of seeded random input sets (default 2). */
  samples?: number;
  /** Seed of the random inputs (default 0). */
  seed?: number;
  /** Sizes for symbolic dims of the inputs, by dim name (default 1 each). */
  dims?: Readonly<Record<string, number>>;
}

export interface OutputError {
  name: string;
  maxAbsError: number;
  /** max |a - b| / max(max |a|, tiny), a being the original's output. */
  maxRelError: number;
  passed: boolean;
  /** Why the output could not be compared numerically (shape or type mismatch, missing). */
  note?: string;
}

export interface Verification {
  /** False when the models were not run (nothing changed, or verification was switched off). */
  checked: boolean;
  passed: boolean;
  maxAbsError: number;
  maxRelError: number;
  tolerance: number;
  /** Input sets run. */
  runs: number;
  perOutput: OutputError[];
  note?: string;
}

export const DEFAULT_TOLERANCE = 1e-4;

/** Denominator floor of the relative error, so all-zero outputs do not divide by zero. */
const TINY = 1e-30;

/** The graph inputs a caller must feed: those without an initializer (which would be a default value). */
export function feedInputs(model: Model): ValueInfo[] {
  const g = model.graph;
  return g.inputs.filter((v) => !g.initializers.has(v.name));
}

/** Standard-normal floats (integer and bool inputs get zeros, always a valid index or flag). */
export function randomFeeds(model: Model, seed: number, dims: Readonly<Record<string, number>> = {}): Record<string, HostTensor> {
  const feeds: Record<string, HostTensor> = {};
  feedInputs(model).forEach((v, k) => {
    if (!v.shape) throw new RebirthError(`input '${v.name}' has no recorded shape; give verification inputs explicitly`);
    const shape = v.shape.map((d) => (typeof d === 'number' ? d : (typeof d === 'string' ? dims[d] : undefined) ?? 1));
    const n = shape.reduce((a, b) => a * b, 1);
    const rng = new Random(seed, k);
    switch (v.elemType) {
      case DataType.FLOAT: feeds[v.name] = { type: 'float32', dims: shape, data: Float32Array.from({ length: n }, () => rng.normal()) }; break;
      case DataType.DOUBLE: feeds[v.name] = { type: 'float64', dims: shape, data: Float64Array.from({ length: n }, () => rng.normal()) }; break;
      case DataType.FLOAT16: feeds[v.name] = { type: 'float16', dims: shape, data: Uint16Array.from({ length: n }, () => floatToHalf(rng.normal())) }; break;
      case DataType.INT64: feeds[v.name] = { type: 'int64', dims: shape, data: new BigInt64Array(n) }; break;
      case DataType.INT32: feeds[v.name] = { type: 'int32', dims: shape, data: new Int32Array(n) }; break;
      case DataType.INT8: feeds[v.name] = { type: 'int8', dims: shape, data: new Int8Array(n) }; break;
      case DataType.UINT8: feeds[v.name] = { type: 'uint8', dims: shape, data: new Uint8Array(n) }; break;
      case DataType.BOOL: feeds[v.name] = { type: 'bool', dims: shape, data: new Uint8Array(n) }; break;
      default: throw new RebirthError(`input '${v.name}' has element type ${dataTypeName(v.elemType ?? 0)}, which random verification does not generate; give inputs explicitly`);
    }
  });
  return feeds;
}

/** Round-to-nearest float -> IEEE half bits (normal range; tiny values flush to zero, large saturate to inf). */
function floatToHalf(x: number): number {
  const f = new Float32Array([x]);
  const bits = new Uint32Array(f.buffer)[0] ?? 0;
  const sign = (bits >>> 16) & 0x8000;
  const exp = ((bits >>> 23) & 0xff) - 127 + 15;
  if (exp <= 0) return sign;
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | ((bits >>> 13) & 0x3ff);
}

function numbersOf(t: HostTensor): ArrayLike<number> {
  if (t.type === 'int64' || t.type === 'uint64') return Array.from(t.data as ArrayLike<bigint>, (v) => Number(v));
  if (t.type === 'float16') return Array.from(t.data, halfToFloat);
  return t.data;
}


/** Largest absolute and relative difference between a reference output and a candidate. */
export function compareOutputs(reference: HostTensor, actual: HostTensor): { maxAbsError: number; maxRelError: number; note?: string } {
  if (reference.type !== actual.type) return { maxAbsError: Infinity, maxRelError: Infinity, note: `type ${actual.type} != ${reference.type}` };
  if (reference.dims.join(',') !== actual.dims.join(',')) {
    return { maxAbsError: Infinity, maxRelError: Infinity, note: `shape [${actual.dims.join(',')}] != [${reference.dims.join(',')}]` };
  }
  const a = numbersOf(reference);
  const b = numbersOf(actual);
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (Number.isFinite(x)) scale = Math.max(scale, Math.abs(x));
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    const d = Math.abs(x - y);
    maxAbs = Math.max(maxAbs, Number.isNaN(d) ? Infinity : d);
  }
  return { maxAbsError: maxAbs, maxRelError: maxAbs === 0 ? 0 : maxAbs / Math.max(scale, TINY) };
}

async function runAll(model: Model, inputSets: ReadonlyArray<Record<string, HostTensor>>, backend: Backend): Promise<Array<Record<string, HostTensor>>> {
  // Graph optimizations off: the reference is the model as written, not ORT's own fused version of it.
  const session = await Session.create(encodeModel(model, { external: 'inline' }), { backend, optLevel: 'disabled' });
  try {
    const results: Array<Record<string, HostTensor>> = [];
    for (const feeds of inputSets) results.push(await session.run(feeds));
    return results;
  } finally {
    await session.release();
  }
}

/**
 * Run both models on the same inputs and compare each graph output of the original with the optimized
 * model's output of the same name. Throws RebirthError when a model cannot be run.
 */
export async function verifyModels(original: Model, optimized: Model, options: VerifyOptions = {}): Promise<Verification> {
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE;
  const backend = options.backend ?? 'node';
  const samples = options.samples ?? 2;
  const inputSets: Array<Record<string, HostTensor>> = [...(options.inputs ?? [])];
  for (let k = 0; k < samples; k++) inputSets.push(randomFeeds(original, (options.seed ?? 0) + k, options.dims));
  if (inputSets.length === 0) throw new RebirthError('verification needs at least one input set: set samples >= 1 or pass inputs');
  const want = await runAll(original, inputSets, backend);
  const got = await runAll(optimized, inputSets, backend);
  const perOutput: OutputError[] = original.graph.outputs.map((o) => {
    let maxAbsError = 0;
    let maxRelError = 0;
    let note: string | undefined;
    want.forEach((w, k) => {
      const ref = w[o.name];
      const act = got[k]?.[o.name];
      if (!ref || !act) {
        maxAbsError = maxRelError = Infinity;
        note = `output '${o.name}' is missing from the ${ref ? 'optimized' : 'original'} model's results`;
        return;
      }
      const c = compareOutputs(ref, act);
      maxAbsError = Math.max(maxAbsError, c.maxAbsError);
      maxRelError = Math.max(maxRelError, c.maxRelError);
      note ??= c.note;
    });
    return { name: o.name, maxAbsError, maxRelError, passed: maxRelError <= tolerance, ...(note ? { note } : {}) };
  });
  return {
    checked: true,
    passed: perOutput.every((p) => p.passed),
    maxAbsError: Math.max(0, ...perOutput.map((p) => p.maxAbsError)),
    maxRelError: Math.max(0, ...perOutput.map((p) => p.maxRelError)),
    tolerance,
    runs: inputSets.length,
    perOutput,
  };
}
