/**
 * Init 'fit' (ours): solve each rebirth conv for the weights that best reproduce the teacher's block
 * output on calibration images, by least squares, before any gradient step.
 *
 * A rebirth conv C (weight W, bias b) feeds, through a ReLU, either the block output itself
 * (streamline) or a channel slice of the inception Concat (branch). The teacher computes the same
 * value under the same name (RebirthLayer.target), so per output position the fit is
 *
 *     min_W  sum_rows || relu(P_row W) - Y_row ||^2,   P_row = [im2col patch of C's input, 1]
 *
 * with C's input taken from the merged model itself (so lower fitted blocks are accounted for).
 * Through the ReLU this is not linear; we solve it as alternating least squares on the
 * pre-activation: the target pre-activation is Y where Y > 0 and, where Y = 0, anything <= 0, so
 * Z' = (Y > 0 ? Y : min(P W_prev, 0)) and W = (P^T P + lambda I)^-1 P^T Z'. The first iterate uses
 * Z' = Y (zeros pull negative pre-activations to 0). P^T P is accumulated once per block; each further
 * iterate costs one pass for P^T Z'. A layer keeps its new weights only if the measured error went
 * down. Rebirth convs that feed other convs (the thinned reducers) have no teacher counterpart and
 * no least-squares target; a short gradient refinement afterwards trains all rebirth parameters
 * together, reducers included, on the block-output MSE through the real ReLUs (measured on
 * googlenet-mini: 84.3% -> 86.4% top-1 before any retraining, for 8 s).
 */
import type { Model, Node } from '../ir/graph.js';
import { headData, streamBatches, type Data } from '../data/source.js';
import { encodeModel } from '../onnx/encode.js';
import { floatTensor, tensorToFloat32 } from '../ir/tensor.js';
import { getInt, getInts, getString } from '../ir/attributes.js';
import { consumers } from '../ir/topology.js';
import { inferShapes, shapeOf } from '../shapes/infer.js';
import { Session, type HostTensor } from '../runtime/session.js';
import { cloneModel } from '../rewrite/engine.js';
import type { Matrix } from '../linalg/matrix.js';
import { GraphBuilder, modelOf } from '../ir/builder.js';
import { solveSpd } from '../linalg/solve.js';
import { TeacherRunner } from '../train/finetune.js';
import { Progress } from '../util/progress.js';
import type { RebirthLayer } from './init.js';
import { train } from '../train/trainer.js';
import type { LossSpec } from '../autodiff/losses.js';

export interface FitOptions {
  /** Calibration images are `images` of this set (headData: the first, or evenly spread over a folder). */
  data: Data;
  images?: number;
  batchSize?: number;
  /** Alternating least-squares iterates (1: plain least squares on Y). Default 3. */
  iterations?: number;
  /** Ridge relative to the mean eigenvalue of P^T P (default 1e-2; see docs/deeprebirth.md). */
  ridge?: number;
  threads?: number;
  progress?: boolean;
  /**
   * After the solves, gradient steps (Adam, lr 1e-3, one pass, batch 64) on this many images that
   * train all rebirth parameters, the thinned reducers included, against the block-output MSE through
   * the real ReLUs; 0 disables. Default 4096.
   */
  refineImages?: number;
  seed?: number;
}

/** What the fit did per layer, and the gradient refinement (mean block MSE over its pass). */
export interface FitResult {
  layers: FitReport[];
  refined: { images: number; meanLoss: number; diverged?: string } | undefined;
}

export interface FitReport {
  block: string;
  node: string;
  fitted: boolean;
  /** Why the layer kept its weights (not a block output, unsupported attributes, no improvement). */
  reason?: string;
  /** Calibration rows (images x output positions). */
  rows: number;
  /** ||relu(conv) - teacher||^2 / ||teacher||^2 on the layer's channels, inherited and fitted. */
  errorBefore: number;
  errorAfter: number;
}

interface Geometry {
  layer: RebirthLayer;
  node: Node;
  input: string;
  cout: number;
  cin: number;
  kh: number;
  kw: number;
  strides: number[];
  pads: number[];
  dilations: number[];
  relu: boolean;
  /** Channel offset of this layer's output inside the target value. */
  offset: number;
}

/**
 * Fit the rebirth convs of `merged` (in place) against `teacher`: least squares block by block, bottom
 * to top, then (refineImages > 0) a few gradient steps on all rebirth parameters together.
 */
export async function fitRebirthLayers(merged: Model, teacher: Model, layers: readonly RebirthLayer[], options: FitOptions): Promise<FitResult> {
  const reports: FitReport[] = [];
  const images = Math.min(options.data.count, options.images ?? 1024);
  const calib = headData(options.data, images);
  const threads = options.threads ?? 2;
  const blocks = [...new Set(layers.map((l) => l.block))];
  const bar = options.progress === false ? undefined : new Progress({ total: blocks.length, label: 'fit (least squares)', unit: 'block' });
  const targets = [...new Set(layers.map((l) => l.target))];
  const runner = await TeacherRunner.create(teacher, targets, threads);
  try {
    // Channel offsets come from inferred shapes, which fitting weights does not change: infer once.
    const shaped = cloneModel(merged);
    inferShapes(shaped);
    for (const block of blocks) {
      const geos: Geometry[] = [];
      for (const layer of layers.filter((l) => l.block === block)) {
        const g = geometry(shaped, layer);
        if (typeof g === 'string') reports.push({ block, node: layer.node, fitted: false, reason: g, rows: 0, errorBefore: NaN, errorAfter: NaN });
        else geos.push(g);
      }
      if (geos.length > 0) reports.push(...(await fitBlock(merged, geos, calib, runner, targets, options)));
      bar?.tick(1, { block });
    }
    bar?.done();
    const refineImages = Math.min(options.data.count, options.refineImages ?? 4096);
    let refined: FitResult['refined'];
    if (refineImages > 0) {
      const r = await train(merged, headData(options.data, refineImages), {
        epochs: 1, batchSize: options.batchSize ?? 64, lr: 1e-3,
        trainable: [...new Set(layers.flatMap((l) => l.params))],
        optimizer: { kind: 'adam' }, schedule: { config: { kind: 'constant' }, warmupSteps: 0 },
        loss: targets.map((t, i): LossSpec => ({ kind: 'mse', output: t, labelsName: `teacher_block_${i}` })),
        batchFeeds: (x, n) => runner.feeds(x, n), seed: options.seed ?? 1, threads, progress: options.progress ?? true,
        stopOnDivergence: true,
      });
      refined = { images: refineImages, meanLoss: r.history[0]?.loss ?? NaN, ...(r.diverged ? { diverged: r.diverged.message } : {}) };
    }
    return { layers: reports, refined };
  } finally {
    bar?.done();
    await runner.release();
  }
}

/** Where a rebirth conv's output lands in its target, or why it cannot be fitted directly. */
function geometry(model: Model, layer: RebirthLayer): Geometry | string {
  const g = model.graph;
  const node = g.nodes.find((n) => n.name === layer.node);
  if (!node || node.opType !== 'Conv') return 'not a Conv node';
  const w = g.initializers.get(node.inputs[1] ?? '');
  if (!w || w.dims.length !== 4) return 'weight is not a 4-D initializer';
  if (getInt(node, 'group', 1) !== 1) return 'grouped conv';
  if (!['NOTSET', ''].includes(getString(node, 'auto_pad', 'NOTSET'))) return 'auto_pad is set';
  const [cout, cin, kh, kw] = w.dims as [number, number, number, number];
  const uses = consumers(g);
  let out = node.outputs[0] ?? '';
  let relu = false;
  const next = uses.get(out) ?? [];
  if (next.length === 1 && next[0]?.opType === 'Relu') {
    relu = true;
    out = next[0].outputs[0] ?? '';
  }
  let offset = 0;
  if (out !== layer.target) {
    const concat = (uses.get(out) ?? []).find((n) => n.opType === 'Concat' && n.outputs[0] === layer.target);
    if (!concat) return 'feeds another layer, not the block output: no least-squares target (the gradient refinement trains it)';
    for (const name of concat.inputs) {
      if (name === out) break;
      const c = shapeOf(model, name)?.[1];
      if (typeof c !== 'number') return `unknown channel count of ${name}`;
      offset += c;
    }
  }
  return {
    layer, node, input: node.inputs[0] ?? '', cout, cin, kh, kw, relu, offset,
    strides: getInts(node, 'strides', [1, 1]), pads: getInts(node, 'pads', [0, 0, 0, 0]), dilations: getInts(node, 'dilations', [1, 1]),
  };
}

interface Accumulator {
  gram?: Matrix;
  rhs?: Matrix;
  err: number;
  norm: number;
  rows: number;
}

async function fitBlock(merged: Model, geos: Geometry[], calib: Data, runner: TeacherRunner, targets: string[], options: FitOptions): Promise<FitReport[]> {
  const probe = cloneModel(merged);
  const inputs = [...new Set(geos.map((x) => x.input))];
  for (const name of inputs) if (!probe.graph.outputs.some((o) => o.name === name)) probe.graph.outputs.push({ name, docString: '' });
  const dataName = probe.graph.inputs.find((v) => !probe.graph.initializers.has(v.name))?.name ?? 'data';
  const threads = options.threads ?? 2;
  const session = await Session.create(encodeModel(probe), { threads });
  const products = await Products.create(threads);
  const iterations = Math.max(1, options.iterations ?? 3);
  const batchSize = options.batchSize ?? 64;
  try {
    // Pass k measures the error of candidate k (k = 0: the inherited weights) and accumulates the
    // right-hand side that gives candidate k + 1; P^T P is accumulated in pass 0 only.
    const candidates: Matrix[][] = geos.map((x) => [weightMatrix(merged, x)]);
    const errors: number[][] = geos.map(() => []);
    const grams: Array<Matrix | undefined> = geos.map(() => undefined);
    const rows: number[] = geos.map(() => 0);
    // The block's inputs and the teacher's targets do not change while this block is fitted (only
    // its own weights do), so one forward pass of each serves all iterates.
    const cached: Array<{ student: Record<string, HostTensor>; teacher: Record<string, HostTensor> }> = [];
    for await (const batch of streamBatches(calib, { batchSize, shuffle: false })) {
      const [c, h, w] = calib.shape;
      const x: HostTensor = { type: 'float32', dims: [batch.size, c, h, w], data: batch.x };
      cached.push({ student: await session.run({ [dataName]: x }, inputs), teacher: await runner.feeds(batch.x, batch.size) });
    }
    for (let pass = 0; pass <= iterations; pass++) {
      const acc: Accumulator[] = geos.map(() => ({ err: 0, norm: 0, rows: 0 }));
      for (const { student, teacher } of cached) {
        for (const [i, geo] of geos.entries()) {
          const xin = student[geo.input];
          const t = teacher[`teacher_block_${targets.indexOf(geo.layer.target)}`];
          if (xin?.type !== 'float32' || t?.type !== 'float32') continue;
          const p = im2col(xin.data, xin.dims, geo, t.dims[2] ?? 1, t.dims[3] ?? 1);
          const y = targetRows(t.data, t.dims, geo);
          const cand = candidates[i] as Matrix[];
          const z = await products.mul(p, cand[cand.length - 1] as Matrix);
          const a = acc[i] as Accumulator;
          for (let k = 0; k < y.data.length; k++) {
            const yk = y.data[k] as number;
            const zk = z[k] as number;
            const d = (geo.relu ? Math.max(zk, 0) : zk) - yk;
            a.err += d * d;
            a.norm += yk * yk;
            // The pre-activation target of the next iterate (pass 0 starts from Y itself).
            if (geo.relu && pass > 0 && !(yk > 0)) y.data[k] = Math.min(zk, 0);
          }
          a.rows += p.rows;
          if (pass === 0) a.gram = add(a.gram, await products.transMul(p, p));
          if (pass < iterations) a.rhs = add(a.rhs, await products.transMul(p, y));
        }
      }
      for (const [i, a] of acc.entries()) {
        rows[i] = a.rows;
        (errors[i] as number[]).push(a.norm > 0 ? a.err / a.norm : NaN);
        if (pass === 0) grams[i] = a.gram;
        const gram = grams[i];
        if (pass < iterations && gram && a.rhs) (candidates[i] as Matrix[]).push(solveSpd(gram, a.rhs, options.ridge ?? 1e-2));
      }
    }
    return geos.map((geo, i) => {
      const errs = errors[i] as number[];
      let best = 0;
      errs.forEach((e, k) => { if (e < (errs[best] as number)) best = k; });
      const fitted = best > 0;
      if (fitted) writeWeights(merged, geo, (candidates[i] as Matrix[])[best] as Matrix);
      return {
        block: geo.layer.block, node: geo.node.name, fitted, rows: rows[i] ?? 0,
        ...(fitted ? {} : { reason: 'least squares did not lower the block-output error' }),
        errorBefore: errs[0] ?? NaN, errorAfter: errs[best] ?? NaN,
      };
    });
  } finally {
    await session.release();
    await products.release();
  }
}

/** Matrix products on ORT (float32 in, accumulated in float64 by the caller): 20x+ faster than JS here. */
class Products {
  private constructor(private readonly mulSession: Session, private readonly transSession: Session) {}

  static async create(threads: number): Promise<Products> {
    const mul = new GraphBuilder('mul');
    mul.input('a', ['r', 'k']);
    mul.input('b', ['k', 'n']);
    mul.graph.outputs.push({ name: mul.op('MatMul', ['a', 'b']), docString: '' });
    const trans = new GraphBuilder('trans_mul');
    trans.input('a', ['r', 'k']);
    trans.input('b', ['r', 'n']);
    trans.graph.outputs.push({ name: trans.op('MatMul', [trans.op('Transpose', ['a'], { perm: [1, 0] }), 'b']), docString: '' });
    return new Products(
      await Session.create(encodeModel(modelOf(mul.graph)), { threads }),
      await Session.create(encodeModel(modelOf(trans.graph)), { threads }),
    );
  }

  /** A B as float32 (rows of A x cols of B). */
  async mul(a: Matrix32, b: Matrix): Promise<Float32Array> {
    const out = await this.mulSession.run({
      a: { type: 'float32', dims: [a.rows, a.cols], data: a.data },
      b: { type: 'float32', dims: [b.rows, b.cols], data: Float32Array.from(b.data) },
    });
    return floatOutput(out);
  }

  /** A^T B as a float64 matrix. */
  async transMul(a: Matrix32, b: Matrix32): Promise<Matrix> {
    const out = await this.transSession.run({
      a: { type: 'float32', dims: [a.rows, a.cols], data: a.data },
      b: { type: 'float32', dims: [b.rows, b.cols], data: b.data },
    });
    return { rows: a.cols, cols: b.cols, data: Float64Array.from(floatOutput(out)) };
  }

  async release(): Promise<void> {
    await this.mulSession.release();
    await this.transSession.release();
  }
}

interface Matrix32 {
  rows: number;
  cols: number;
  data: Float32Array;
}

function floatOutput(out: Record<string, HostTensor>): Float32Array {
  const v = Object.values(out)[0];
  if (v?.type !== 'float32') throw new Error('matrix product returned no float32 output');
  return v.data;
}

function add(a: Matrix | undefined, b: Matrix): Matrix {
  if (!a) return b;
  for (let i = 0; i < a.data.length; i++) a.data[i] = (a.data[i] as number) + (b.data[i] as number);
  return a;
}

/** Rows (n, oh, ow) of receptive-field patches, columns (c, i, j) then a constant 1 for the bias. */
function im2col(x: Float32Array, dims: readonly number[], g: Geometry, ho: number, wo: number): Matrix32 {
  const [n, c, h, w] = dims as [number, number, number, number];
  const d = c * g.kh * g.kw + 1;
  const rows = n * ho * wo;
  const out = new Float32Array(rows * d);
  const [sh, sw] = g.strides as [number, number];
  const [dh, dw] = g.dilations as [number, number];
  const [pt, pl] = g.pads as [number, number];
  let r = 0;
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++, r++) {
        const base = r * d;
        for (let ch = 0; ch < c; ch++) {
          const plane = (b * c + ch) * h * w;
          for (let i = 0; i < g.kh; i++) {
            const iy = oy * sh - pt + i * dh;
            if (iy < 0 || iy >= h) continue;
            for (let j = 0; j < g.kw; j++) {
              const ix = ox * sw - pl + j * dw;
              if (ix < 0 || ix >= w) continue;
              out[base + (ch * g.kh + i) * g.kw + j] = x[plane + iy * w + ix] as number;
            }
          }
        }
        out[base + d - 1] = 1;
      }
    }
  }
  return { rows, cols: d, data: out };
}

/** The layer's channels of the teacher's target as rows (n, oh, ow) x cout. */
function targetRows(t: Float32Array, dims: readonly number[], g: Geometry): Matrix32 {
  const [n, ct, ho, wo] = dims as [number, number, number, number];
  const out = new Float32Array(n * ho * wo * g.cout);
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < g.cout; o++) {
      const plane = (b * ct + g.offset + o) * ho * wo;
      for (let p = 0; p < ho * wo; p++) out[(b * ho * wo + p) * g.cout + o] = t[plane + p] as number;
    }
  }
  return { rows: n * ho * wo, cols: g.cout, data: out };
}

/** Current weight and bias as the (cin kh kw + 1) x cout matrix the solve produces. */
function weightMatrix(model: Model, g: Geometry): Matrix {
  const w = tensorToFloat32(model.graph.initializers.get(g.node.inputs[1] ?? '') ?? fail(g));
  const biasName = g.node.inputs[2];
  const bias = biasName ? model.graph.initializers.get(biasName) : undefined;
  const b = bias ? tensorToFloat32(bias) : undefined;
  const k = g.cin * g.kh * g.kw;
  const out = new Float64Array((k + 1) * g.cout);
  for (let o = 0; o < g.cout; o++) {
    for (let r = 0; r < k; r++) out[r * g.cout + o] = w[o * k + r] as number;
    out[k * g.cout + o] = b?.[o] ?? 0;
  }
  return { rows: k + 1, cols: g.cout, data: out };
}

function writeWeights(model: Model, g: Geometry, m: Matrix): void {
  const k = g.cin * g.kh * g.kw;
  const w = new Float32Array(g.cout * k);
  const b = new Float32Array(g.cout);
  for (let o = 0; o < g.cout; o++) {
    for (let r = 0; r < k; r++) w[o * k + r] = m.data[r * g.cout + o] as number;
    b[o] = m.data[k * g.cout + o] as number;
  }
  const wName = g.node.inputs[1] ?? '';
  model.graph.initializers.set(wName, floatTensor(wName, [g.cout, g.cin, g.kh, g.kw], w));
  let biasName = g.node.inputs[2];
  if (!biasName) {
    // A fitted bias needs an input; the name follows the weight's. (g.node belongs to a shape-inferred
    // copy; the node to edit is the model's own.)
    biasName = `${wName}_fit_bias`;
    const node = model.graph.nodes.find((n) => n.name === g.node.name);
    if (node) node.inputs[2] = biasName;
  }
  model.graph.initializers.set(biasName, floatTensor(biasName, [g.cout], b));
}

function fail(g: Geometry): never {
  throw new Error(`rebirth layer ${g.node.name} lost its weight`);
}
