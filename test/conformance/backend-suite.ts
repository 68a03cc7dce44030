/**
 * The ONNX backend test suite as shipped by Debian's libonnx-testdata: one folder per test with
 * model.onnx and test_data_set_N/{input,output}_K.pb (serialized TensorProto).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { fromBinary } from '@bufbuild/protobuf';
import { TensorProtoSchema } from '../../src/onnx/generated/onnx_pb.js';
import { decodeTensor } from '../../src/onnx/decode.js';
import { DataType, halfToFloat, type Tensor } from '../../src/ir/tensor.js';
import type { Model } from '../../src/ir/graph.js';

export const SUITE_ROOT = process.env.ONNX_TESTDATA ?? '/usr/share/libonnx-testdata/data';

export interface BackendCase {
  name: string;
  dir: string;
  model: string;
}

export function listCases(kinds = ['node', 'simple', 'pytorch-converted', 'pytorch-operator', 'real']): BackendCase[] {
  const cases: BackendCase[] = [];
  for (const kind of kinds) {
    const root = path.join(SUITE_ROOT, kind);
    if (!fs.existsSync(root)) continue;
    for (const name of fs.readdirSync(root).sort()) {
      const model = path.join(root, name, 'model.onnx');
      if (fs.existsSync(model)) cases.push({ name: `${kind}/${name}`, dir: path.join(root, name), model });
    }
  }
  return cases;
}

export interface DataSet {
  inputs: Tensor[];
  outputs: Tensor[];
}

/** The first data set of a case; undefined when it holds non-tensor values (sequences, optionals). */
export function loadDataSet(c: BackendCase, model: Model): DataSet | undefined {
  const dir = path.join(c.dir, 'test_data_set_0');
  if (!fs.existsSync(dir)) return undefined;
  const read = (prefix: string, count: number): Tensor[] | undefined => {
    const out: Tensor[] = [];
    for (let k = 0; k < count; k++) {
      const f = path.join(dir, `${prefix}_${k}.pb`);
      if (!fs.existsSync(f)) return undefined;
      out.push(decodeTensor(fromBinary(TensorProtoSchema, fs.readFileSync(f)), {}));
    }
    return out;
  };
  const g = model.graph;
  const isTensor = (v: { elemType?: number }): boolean => v.elemType !== undefined;
  const feedInputs = g.inputs.filter((v) => !g.initializers.has(v.name));
  if (![...feedInputs, ...g.outputs].every(isTensor)) return undefined;
  const inputs = read('input', feedInputs.length);
  const outputs = read('output', g.outputs.length);
  if (!inputs || !outputs) return undefined;
  return { inputs, outputs };
}

type NumericType = 'float32' | 'float64' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool' | 'float16';

const ORT_TYPES: Record<number, NumericType | 'string'> = {
  [DataType.FLOAT]: 'float32', [DataType.DOUBLE]: 'float64', [DataType.INT8]: 'int8', [DataType.UINT8]: 'uint8',
  [DataType.INT16]: 'int16', [DataType.UINT16]: 'uint16', [DataType.INT32]: 'int32', [DataType.UINT32]: 'uint32',
  [DataType.INT64]: 'int64', [DataType.UINT64]: 'uint64', [DataType.BOOL]: 'bool', [DataType.STRING]: 'string',
  [DataType.FLOAT16]: 'float16',
};

export function toOrtTensor(t: Tensor): ort.Tensor | undefined {
  const type = ORT_TYPES[t.dataType];
  if (!type) return undefined;
  if (type === 'string') return new ort.Tensor('string', (t.strings ?? []).map((s) => new TextDecoder().decode(s)), t.dims);
  const bytes = new Uint8Array(t.data ?? new Uint8Array(0)); // copy: Buffer.slice would alias
  const buf = bytes.buffer;
  const data = {
    float32: () => new Float32Array(buf), float64: () => new Float64Array(buf), int8: () => new Int8Array(buf),
    uint8: () => new Uint8Array(buf), int16: () => new Int16Array(buf), uint16: () => new Uint16Array(buf),
    int32: () => new Int32Array(buf), uint32: () => new Uint32Array(buf), int64: () => new BigInt64Array(buf),
    uint64: () => new BigUint64Array(buf), bool: () => new Uint8Array(buf), float16: () => new Uint16Array(buf),
  }[type]();
  return new ort.Tensor(type, data as Float32Array, t.dims);
}

/** ONNX's own backend-test tolerance: |actual - expected| <= atol + rtol * |expected|. */
export function compareTensor(actual: ort.Tensor, expected: Tensor, rtol = 1e-3, atol = 1e-5): string | undefined {
  if (actual.dims.join(',') !== expected.dims.join(',')) {
    return `shape [${actual.dims.join(',')}] != expected [${expected.dims.join(',')}]`;
  }
  const want = toOrtTensor(expected);
  if (!want) return undefined;
  const a = actual.data;
  const b = want.data;
  if (a.length !== b.length) return `length ${a.length} != ${b.length}`;
  const f16 = expected.dataType === DataType.FLOAT16;
  for (let i = 0; i < a.length; i++) {
    const x = toNumber(a[i], f16);
    const y = toNumber(b[i], f16);
    if (typeof x === 'string' || typeof y === 'string') {
      if (x !== y) return `element ${i}: '${String(x)}' != '${String(y)}'`;
      continue;
    }
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (x === y) continue;
    if (!(Math.abs(x - y) <= atol + rtol * Math.abs(y))) return `element ${i}: ${x} != expected ${y}`;
  }
  return undefined;
}

function toNumber(v: unknown, f16: boolean): number | string {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') return v;
  const n = Number(v);
  return f16 ? halfToFloat(n) : n;
}


/** Run model bytes on ORT with the data set's inputs; returns a failure reason, 'skip: ...', or undefined on success. */
export async function runCase(bytes: Uint8Array, model: Model, data: DataSet): Promise<string | undefined> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 1, logSeverityLevel: 4 });
  } catch (e) {
    return `skip: ORT cannot load: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]?.slice(0, 120) ?? ''}`;
  }
  try {
    const g = model.graph;
    const feedInputs = g.inputs.filter((v) => !g.initializers.has(v.name));
    const feeds: Record<string, ort.Tensor> = {};
    for (const [k, v] of feedInputs.entries()) {
      const t = data.inputs[k];
      const ot = t ? toOrtTensor(t) : undefined;
      if (!ot) return 'skip: input type not supported by onnxruntime-node';
      feeds[v.name] = ot;
    }
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await session.run(feeds);
    } catch (e) {
      return `skip: ORT cannot run: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]?.slice(0, 120) ?? ''}`;
    }
    for (const [k, v] of g.outputs.entries()) {
      const got = results[v.name];
      const want = data.outputs[k];
      if (!got || !want) return `output ${v.name} missing`;
      const why = compareTensor(got, want);
      if (why) return `output ${v.name}: ${why}`;
    }
    return undefined;
  } finally {
    await session.release();
  }
}

/**
 * Run a transformed model's bytes on a case; a mismatch counts against rebirth only if ORT matches the
 * reference on the untouched original file (random ops, string formatting and a few kernels disagree
 * with the reference on their own).
 */
export async function judgeCase(bytes: Uint8Array, model: Model, data: DataSet, original: Uint8Array, originalModel: Model): Promise<string | undefined> {
  const why = await runCase(bytes, model, data);
  if (why !== undefined && !why.startsWith('skip: ') && (await runCase(original, originalModel, data)) !== undefined) {
    return 'skip: ORT disagrees with the reference outputs on the original file too';
  }
  return why;
}

/** Counts of a suite run, with the commonest skip reasons and the failures, printed as one summary. */
export class SuiteTally {
  passed = 0;
  skipped = 0;
  readonly failed: string[] = [];
  private readonly reasons = new Map<string, number>();

  /** Record a runCase/judgeCase verdict. */
  record(name: string, why: string | undefined): void {
    if (why === undefined) this.passed++;
    else if (why.startsWith('skip: ')) this.skip(why.slice(6));
    else this.failed.push(`${name}: ${why}`);
  }

  skip(reason: string): void {
    this.skipped++;
    const key = reason.replace(/\d+/g, 'N').slice(0, 70);
    this.reasons.set(key, (this.reasons.get(key) ?? 0) + 1);
  }

  fail(message: string): void {
    this.failed.push(message);
  }

  report(label: string, total: number): string {
    const top = [...this.reasons.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
    return [
      `${label}: ${this.passed} passed, ${this.skipped} skipped, ${this.failed.length} failed of ${total}`,
      ...top.map(([reason, n]) => `  skipped ${n}: ${reason}`),
      ...this.failed.slice(0, 20).map((f) => `  FAILED ${f}`),
    ].join('\n');
  }
}
