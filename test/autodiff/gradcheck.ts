// Finite-difference gradient checker: builds a one-node model (plus a fixed random weighting of its
// outputs), asks buildTrainingGraph for its training graph, runs it in onnxruntime-node, and compares every
// analytic gradient with central differences of the same graph's forward. The scalar objective is
// L = sum_k sum(y_k * R_k), computed in float64 from the node's outputs so the differences lose as little
// as possible to float32 rounding.
import * as ort from 'onnxruntime-node';
import type { Graph, Model } from '../../src/ir/graph.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import type { AttrInput } from '../../src/ir/attributes.js';
import { DataType, type Tensor } from '../../src/ir/tensor.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { Random } from '../../src/util/random.js';
import { makeTensor } from '../../src/autodiff/context.js';
import { buildTrainingGraph, type TrainingGraph, type TrainingGraphOptions } from '../../src/autodiff/training-graph.js';
import { withGradForms, type GradForms } from '../../src/autodiff/forms.js';

/** How to draw an input's values. */
export type Domain =
  /** uniform in [-1, 1] */
  | 'uniform'
  /** uniform magnitude in [0.2, 1] with a random sign: away from a kink at 0 */
  | 'awayFromZero'
  /** a random permutation of a grid spaced 0.05 apart: no ties, no near-ties (max pooling) */
  | 'distinct'
  /** uniform in [0.5, 1.5] */
  | 'positive'
  /** uniform in [-5, 5] avoiding +-3 and 0 by 0.2 (HardSwish kinks) */
  | 'wide';

export interface InputSpec {
  dims: number[];
  /** Default: float of the check's dtype. */
  dataType?: number;
  /** Fixed values (then not trainable unless `trainable` says so). */
  values?: number[];
  /** Default: true for float inputs without fixed values. */
  trainable?: boolean;
  domain?: Domain;
}

export interface CheckOptions {
  /** Allowed |numeric - analytic| relative to max(1, |analytic|) scaled by the tensor's largest gradient. */
  tol?: number;
  eps?: number;
  dtype?: 'float' | 'double';
  domain?: Domain;
  /** Elements checked per input (all when the input is smaller). */
  samples?: number;
  /** Node outputs that feed the objective (default: all). */
  outputs?: number;
  mode?: TrainingGraphOptions['mode'];
  opset?: number;
  seed?: number;
  /** Gradient formulations (src/autodiff/forms.ts) to build the training graph with (default: the defaults). */
  forms?: Partial<GradForms>;
}

export interface CheckReport {
  /** Largest error found, relative as in `tol`. */
  worst: number;
  checked: number;
  where: string;
}

function draw(rng: Random, n: number, domain: Domain): number[] {
  switch (domain) {
    case 'uniform': return Array.from({ length: n }, () => rng.nextFloat() * 2 - 1);
    case 'awayFromZero': return Array.from({ length: n }, () => (0.2 + 0.8 * rng.nextFloat()) * (rng.nextFloat() < 0.5 ? -1 : 1));
    case 'positive': return Array.from({ length: n }, () => 0.5 + rng.nextFloat());
    case 'distinct': {
      const order = rng.shuffleInPlace(Array.from({ length: n }, (_, i) => i));
      return order.map((k) => (k - n / 2) * 0.05);
    }
    case 'wide': return Array.from({ length: n }, () => {
      for (;;) {
        const v = rng.nextFloat() * 10 - 5;
        if (Math.abs(Math.abs(v) - 3) > 0.2 && Math.abs(v) > 0.2) return v;
      }
    });
  }
}

const numel = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

function ortTensor(dataType: number, dims: number[], values: readonly number[]): ort.Tensor {
  switch (dataType) {
    case DataType.FLOAT: return new ort.Tensor('float32', Float32Array.from(values), dims);
    case DataType.DOUBLE: return new ort.Tensor('float64', Float64Array.from(values), dims);
    case DataType.INT64: return new ort.Tensor('int64', BigInt64Array.from(values, (v) => BigInt(v)), dims);
    case DataType.BOOL: return new ort.Tensor('bool', Uint8Array.from(values), dims);
    default: throw new Error(`gradcheck: unsupported input type ${dataType}`);
  }
}

function numbers(t: ort.Tensor): number[] {
  const d = t.data;
  if (d instanceof BigInt64Array) return Array.from(d, (v) => Number(v));
  return Array.from(d as Float32Array | Float64Array | Uint8Array);
}

/** A model with `build` as its body; `params` become initializers (the trainable ones). */
export function singleNodeModel(
  opType: string, attrs: Record<string, AttrInput | undefined>, inputs: (InputSpec | null)[], floatType: number, rng: Random,
  options: { domain: Domain; opset: number; outputs?: number },
): { model: Model; trainable: string[]; values: Map<string, number[]>; outputs: string[] } {
  const b = new GraphBuilder('check');
  const names: string[] = [];
  const trainable: string[] = [];
  const values = new Map<string, number[]>();
  inputs.forEach((spec, k) => {
    const name = `in${k}`;
    if (spec === null) { names.push(''); return; }
    const dataType = spec.dataType ?? floatType;
    const isFloat = dataType === DataType.FLOAT || dataType === DataType.DOUBLE;
    const v = spec.values ?? draw(rng, numel(spec.dims), spec.domain ?? options.domain);
    b.initializer(makeTensor(name, dataType, spec.dims, v));
    values.set(name, v);
    names.push(name);
    if (isFloat && (spec.trainable ?? spec.values === undefined)) trainable.push(name);
  });
  const count = options.outputs ?? 1;
  const outs = b.node(opType, names, attrs, { name: 'op', outputs: count });
  for (const o of outs) b.output(o, undefined, floatType);
  return { model: modelOf(b.graph, options.opset), trainable, values, outputs: outs };
}

async function session(model: Model): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(encodeModel(model), { intraOpNumThreads: 1, graphOptimizationLevel: 'all', logSeverityLevel: 3 });
}

/**
 * Check the gradients of `opType` with `attrs` on inputs shaped `inputs`. Returns the worst error; throws
 * (with the offending input/element) when it exceeds `tol`.
 */
export async function check(opType: string, attrs: Record<string, AttrInput | undefined>, inputs: (number[] | InputSpec | null)[], options: CheckOptions = {}): Promise<CheckReport> {
  const dtype = options.dtype === 'double' ? DataType.DOUBLE : DataType.FLOAT;
  const eps = options.eps ?? (dtype === DataType.DOUBLE ? 1e-6 : 1e-2);
  const tol = options.tol ?? (dtype === DataType.DOUBLE ? 1e-6 : 1e-2);
  const rng = new Random(options.seed ?? 7, opType.length);
  const specs = inputs.map((i) => (Array.isArray(i) ? { dims: i } : i));
  // An omitted optional input is written as null.
  const built = singleNodeModel(opType, attrs, specs, dtype, rng, {
    domain: options.domain ?? 'uniform', opset: options.opset ?? 17, outputs: options.outputs,
  });
  return checkModel(built.model, built.trainable, built.outputs, { ...options, eps, tol, label: opType, rng, mode: options.mode, forms: options.forms });
}

/** Gradient check of any model: objective sum_k sum(output_k * R_k) over `outputs`. */
export async function checkModel(
  model: Model, trainable: string[], outputs: string[],
  options: {
    eps: number; tol: number; label: string; rng: Random; samples?: number; mode?: TrainingGraphOptions['mode']; forms?: Partial<GradForms> | undefined;
    /** More training-graph options (e.g. freezeBatchNorm). */
    graph?: Pick<TrainingGraphOptions, 'freezeBatchNorm' | 'runningVariance'>;
    /** Values of the model's graph inputs (models whose data is an input, e.g. with symbolic dims). */
    feeds?: Record<string, ort.Tensor>;
  },
): Promise<CheckReport> {
  // Shapes of the outputs, for the weights R_k: run the inference model once.
  const probe = await session(model);
  const probeOut = await probe.run({ ...options.feeds });
  const weights = outputs.map((o) => {
    const t = probeOut[o] as ort.Tensor;
    return { dims: [...t.dims], values: draw(options.rng, t.size, 'uniform') };
  });
  // Objective graph: the model plus L = sum_k ReduceSum(y_k * R_k), a scalar loss.
  const graph: Graph = { ...model.graph, outputs: [], initializers: new Map(model.graph.initializers), nodes: [...model.graph.nodes] };
  const b = new GraphBuilder(graph);
  const terms = outputs.map((o, k) => {
    const w = weights[k] as { dims: number[]; values: number[] };
    const first = model.graph.initializers.get(trainable[0] as string) as Tensor;
    const r = b.initializer(makeTensor(`R${k}`, first.dataType, w.dims, w.values));
    return b.op('ReduceSum', [b.op('Mul', [o, r])], { keepdims: 0 });
  });
  const objective = terms.length === 1 ? (terms[0] as string) : b.op('Sum', terms);
  b.output(objective, []);
  const objModel: Model = { ...model, graph };
  const tg: TrainingGraph = withGradForms(options.forms ?? {}, () => buildTrainingGraph(objModel, {
    loss: { kind: 'scalar', output: objective }, trainable, mode: options.mode ?? 'train', outputs, dropoutMasks: 'input', ...options.graph,
  }));
  const s = await session(tg.model);
  const params = new Map<string, { dataType: number; dims: number[]; values: number[] }>();
  for (const p of trainable) {
    const t = model.graph.initializers.get(p) as Tensor;
    const values = t.dataType === DataType.DOUBLE
      ? Array.from(new Float64Array(t.data!.slice().buffer))
      : Array.from(new Float32Array(t.data!.slice().buffer));
    params.set(p, { dataType: t.dataType, dims: [...t.dims], values });
  }
  const state = new Map<string, ort.Tensor>();
  for (const name of tg.stateInputs) {
    const t = model.graph.initializers.get(name) as Tensor;
    const values = t.dataType === DataType.DOUBLE ? Array.from(new Float64Array(t.data!.slice().buffer)) : Array.from(new Float32Array(t.data!.slice().buffer));
    state.set(name, ortTensor(t.dataType, [...t.dims], values));
  }
  const masks = new Map<string, ort.Tensor>();
  for (const { input } of Object.values(tg.maskInputs)) {
    const info = tg.model.graph.inputs.find((v) => v.name === input);
    const dims = (info?.shape ?? []).map((d) => (typeof d === 'number' ? d : 1));
    masks.set(input, ortTensor(DataType.BOOL, dims, draw(options.rng, numel(dims), 'uniform').map((v) => (v > -0.2 ? 1 : 0))));
  }
  const evaluate = async (override?: { name: string; index: number; delta: number } | { direction: Map<string, number[]>; delta: number }): Promise<{ objective: number; out: ort.InferenceSession.OnnxValueMapType }> => {
    const feeds: Record<string, ort.Tensor> = { ...options.feeds };
    for (const [name, p] of params) {
      let v = p.values;
      if (override && 'name' in override && override.name === name) {
        v = [...v];
        v[override.index] = (v[override.index] as number) + override.delta;
      } else if (override && 'direction' in override) {
        const d = override.direction.get(name) as number[];
        v = v.map((x, i) => x + override.delta * (d[i] as number));
      }
      feeds[name] = ortTensor(p.dataType, p.dims, v);
    }
    for (const [k, v] of masks) feeds[k] = v;
    for (const [k, v] of state) feeds[k] = v;
    const out = await s.run(feeds);
    let objective = 0;
    outputs.forEach((o, k) => {
      const y = numbers(out[o] as ort.Tensor);
      const r = (weights[k] as { values: number[] }).values;
      for (let i = 0; i < y.length; i++) objective += (y[i] as number) * (r[i] as number);
    });
    return { objective, out };
  };
  const base = await evaluate();
  let worst = 0;
  let where = '';
  let checked = 0;
  const fail = (msg: string): never => { throw new Error(`gradcheck ${options.label}: ${msg}`); };
  const direction = new Map<string, number[]>();
  let directional = 0;
  for (const [name, p] of params) {
    const analytic = numbers(base.out[tg.gradOutputs[name] as string] as ort.Tensor);
    if (analytic.length !== p.values.length) fail(`gradient of ${name} has ${analytic.length} elements, expected ${p.values.length}`);
    const scale = Math.max(1, ...analytic.map(Math.abs));
    const n = p.values.length;
    const samples = options.samples ?? 48;
    const picks = n <= samples ? Array.from({ length: n }, (_, i) => i) : Array.from({ length: samples }, () => options.rng.nextInt(n));
    for (const i of picks) {
      const plus = await evaluate({ name, index: i, delta: options.eps });
      const minus = await evaluate({ name, index: i, delta: -options.eps });
      const numeric = (plus.objective - minus.objective) / (2 * options.eps);
      const a = analytic[i] as number;
      const err = Math.abs(numeric - a) / scale;
      checked++;
      if (err > worst) { worst = err; where = `${name}[${i}] numeric ${numeric.toPrecision(6)} analytic ${a.toPrecision(6)}`; }
      if (!(err <= options.tol)) fail(`d/d${name}[${i}]: numeric ${numeric} vs analytic ${a} (error ${err.toExponential(2)} > tol ${options.tol})`);
    }
    const d = Array.from({ length: n }, () => (options.rng.nextFloat() < 0.5 ? -1 : 1));
    direction.set(name, d);
    for (let i = 0; i < n; i++) directional += (d[i] as number) * (analytic[i] as number);
  }
  // Directional derivative along a random +-1 direction over all parameters at once: catches errors
  // spread thinly over elements the sampled checks skipped.
  const plus = await evaluate({ direction, delta: options.eps });
  const minus = await evaluate({ direction, delta: -options.eps });
  const numericDir = (plus.objective - minus.objective) / (2 * options.eps);
  const dirScale = Math.max(1, Math.abs(directional), Math.sqrt([...direction.values()].reduce((a, d) => a + d.length, 0)));
  const dirErr = Math.abs(numericDir - directional) / dirScale;
  if (!(dirErr <= options.tol)) fail(`directional derivative: numeric ${numericDir} vs analytic ${directional} (error ${dirErr.toExponential(2)} > tol ${options.tol})`);
  return { worst: Math.max(worst, dirErr), checked, where };
}
