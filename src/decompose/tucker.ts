import type { Attribute, Dim, Graph, Model, Node } from '../ir/graph.js';
import { DataType, dataTypeName, floatTensor, numel, tensorToFloat32, type Tensor } from '../ir/tensor.js';
import { getFloat, getInt, makeAttr } from '../ir/attributes.js';
import { NameGen } from '../ir/topology.js';
import { inferTypes, modelOpset } from '../shapes/infer.js';
import { RebirthError } from '../errors.js';
import type { Backend } from '../runtime/session.js';
import { frobeniusDistance, matmul, matmulTransA, norm2, transpose, type Matrix } from '../linalg/matrix.js';
import { leftSpectrum, type LeftSpectrum } from '../linalg/svd.js';
import { evbmfFromSingularValues } from './vbmf.js';
import { checkRanksRecord, energyRank, loadTuckerRanks, type LayerRanks } from './ranks.js';
import { decideLayer, layerModel, measureLatencies } from './measure.js';
import type { FasterDecision } from '../runtime/decide.js';

/**
 * Tucker-2 decomposition of convolutions and truncated SVD of fully connected layers (Kim et al.,
 * ICLR 2016, as used by DeepRebirth), with ranks from VBMF, an energy threshold, a ranks file or a
 * latency budget, applied only where the decomposed layer measures faster on the target backend.
 *
 * Conv (group 1), W: Cout x Cin x k..., y = W * x + b becomes
 *   x -> 1x1 conv U_in^T (Cin -> R_in) -> k.. conv G with the original strides/pads/dilations
 *     (R_in -> R_out) -> 1x1 conv U_out (R_out -> Cout) + b,
 * i.e. W ~= G x_0 U_out x_1 U_in, no nonlinearity between. U_out / U_in are the leading left singular
 * vectors of the mode-0 (Cout x Cin*k*k) / mode-1 (Cin x Cout*k*k) unfoldings (HOSVD), optionally
 * refined by HOOI; G = W x_0 U_out^T x_1 U_in^T. Zero padding commutes with a bias-free 1x1 conv, so
 * the input projection may run before the padded core. A mode whose rank equals its channel count is
 * not factored (its factor would be a square orthogonal matrix: cost without saving), which makes
 * the first conv of a network (Cin = 3) a Tucker-1 / SVD of the mode-0 unfolding, as Kim et al. do.
 *
 * 1x1 convs, Gemm and MatMul are matrices W (out x in): truncated SVD W ~= U_r (U_r^T W), two layers
 * (in -> r, original strides/pads on the first for a conv; r -> out with the original bias). Tucker-2
 * of a 1x1 kernel would put a third, r x r matrix between them that any SVD absorbs.
 */

export type TuckerRankRule =
  | 'vbmf'
  /** Per mode, the smallest rank keeping this fraction (0, 1] of sum(s^2). */
  | { energy: number }
  /**
   * Per layer, the largest ranks (lowest error) on a grid of channel fractions 7/8 .. 1/8 whose measured
   * latency is at most this fraction (0, 1) of the original layer's; layers where none fits stay.
   * Always measures, whatever `measure` says.
   */
  | { latency: number }
  /** A JSON ranks file, see loadTuckerRanks. */
  | { file: string }
  /** Layer (node) name -> [R_in, R_out]; SVD layers take [r, r]. Layers not named stay as they are. */
  | Record<string, LayerRanks>;

export interface TuckerOptions {
  ranks: TuckerRankRule;
  /** Consider only these layers (node names). */
  only?: string[];
  /** Backend for latency measurements. Default 'node'. */
  backend?: Backend;
  /**
   * Measure each decomposed layer against the original on the backend (ORT 'all' optimizations, one
   * thread) and keep it only where it is at least minGain faster with 95% confidence (decideLayer in
   * measure.ts, the shared rule of src/runtime/decide.ts). Default true.
   */
  measure?: boolean;
  /** HOOI refinement iterations after HOSVD (Tucker-2 layers only). Default 0. */
  hooi?: number;
  /** Required relative latency gain when measuring. Default 0.03 (3% faster). */
  minGain?: number;
  /** Cap on paired rounds per keep/leave decision (default 30), and timed rounds of the `latency` rule's grid (default 25). */
  runs?: number;
  /**
   * The keep/leave decision of one layer, in place of decideLayer on `backend`: a runtime plan (src/plan)
   * measures on its own target (the browser, say) with the same rule. Gets the one-layer models and the
   * layer's input shape.
   */
  decideLayer?: (before: Model, after: Model, inputShape: number[]) => Promise<FasterDecision>;
}

export interface TuckerLayer {
  name: string;
  opType: string;
  /** 'tucker2': in/core/out convs; 'tucker1': one side factored; 'svd': two layers; 'none': not applicable. */
  method: 'tucker2' | 'tucker1' | 'svd' | 'none';
  /** [R_in, R_out] (the full channel counts when not applicable). */
  ranks: [number, number];
  /** FLOPs per batch-1 inference (multiply-add = 2); NaN when a shape is unknown. */
  flopsBefore: number;
  flopsAfter: number;
  paramsBefore: number;
  paramsAfter: number;
  /** |W - W_hat|_F / |W|_F at the chosen ranks. */
  relError: number;
  /**
   * Single-layer latency (ms) on the backend, when measured: the median on the decision's clock
   * (decideLayer), or with the `latency` rule the fastest of the grid's interleaved runs.
   */
  latencyBefore?: number;
  latencyAfter?: number;
  /** The measured keep/leave decision (decideLayer) behind `decomposed`, when one was made. */
  speedup?: Pick<FasterDecision, 'keep' | 'ratio' | 'interval' | 'confidence' | 'rounds' | 'clock'>;
  decomposed: boolean;
  /** Why the layer was left alone. */
  reason?: string;
}

export interface TuckerResult {
  model: Model;
  layers: TuckerLayer[];
  /** Initializers created by the decomposition (the "rebirth" parameters for fine-tuning). */
  newParams: string[];
}

const LATENCY_FRACTIONS = [7 / 8, 3 / 4, 5 / 8, 1 / 2, 3 / 8, 1 / 4, 1 / 8];
const DECOMPOSABLE = new Set(['Conv', 'Gemm', 'MatMul']);
const REPORTED = new Set([...DECOMPOSABLE, 'ConvTranspose']);

/** A decomposable layer, its weight as float64 in y = W x orientation. */
interface Layer {
  node: Node;
  name: string;
  op: 'Conv' | 'Gemm' | 'MatMul';
  /** 'tucker': a conv with a spatial kernel; 'svd': a matrix (1x1 conv, Gemm, MatMul). */
  kind: 'tucker' | 'svd';
  cout: number;
  cin: number;
  /** Spatial kernel (empty for Gemm/MatMul); ks = its product. */
  kernel: number[];
  ks: number;
  /** Conv: (cout, cin, ks) row-major; matrix: cout x cin. */
  w: Float64Array;
  /** Gemm: beta for the bias. */
  beta: number;
  bias?: string;
  biasParams: number;
  /** The original weight and bias initializers (for the single-layer latency models). */
  tensors: Tensor[];
  inShape?: number[];
  outShape?: number[];
}

/** A computed decomposition, not yet placed in a graph. */
interface Factors {
  ranks: [number, number];
  method: 'tucker2' | 'tucker1' | 'svd';
  /** Conv: cin x rin (absent: identity); matrix SVD: unused. */
  uIn?: Matrix;
  /** cout x rout (absent: identity). */
  uOut?: Matrix;
  /** Conv: (rout', rin', ks); matrix: r x cin (= U_r^T W). */
  core: Float64Array;
  relError: number;
}

export async function tuckerDecompose(model: Model, options: TuckerOptions): Promise<TuckerResult> {
  const graph = model.graph;
  const measure = options.measure ?? true;
  const backend = options.backend ?? 'node';
  const hooi = options.hooi ?? 0;
  const minGain = options.minGain ?? 0.03;
  if (!Number.isInteger(hooi) || hooi < 0) throw new RebirthError(`option hooi must be a non-negative integer, got ${hooi}`);
  if (!(minGain >= 0 && minGain < 1)) throw new RebirthError(`option minGain must be in [0, 1), got ${minGain}`);
  const rule = resolveRule(options.ranks);

  const byName = new Map<string, Node>();
  for (const n of graph.nodes) if (REPORTED.has(n.opType) && isDefaultDomain(n.domain)) byName.set(layerName(n), n);
  if (options.only) {
    for (const name of options.only) {
      if (!byName.has(name)) throw new RebirthError(`option only names '${name}', which is not a Conv/Gemm/MatMul node of the model; check the layer name`);
    }
  }
  const shapes = shapeTable(model);
  if (rule.kind === 'explicit') {
    // All explicit ranks are checked before any decomposition or measurement starts.
    for (const [name, ranks] of Object.entries(rule.ranks)) {
      const node = byName.get(name);
      if (!node) throw new RebirthError(`${rule.source} names layer '${name}', which is not a Conv/Gemm/MatMul node of the model; check the layer name`);
      const read = readLayer(graph, node, shapes);
      if (typeof read !== 'string') checkRanks(read, ranks, rule.source);
    }
  }
  const selected = options.only ? new Set(options.only) : undefined;

  const opset = modelOpset(model);
  const layers: TuckerLayer[] = [];
  const replacements = new Map<Node, { layer: Layer; factors: Factors }>();

  for (const node of graph.nodes) {
    const name = layerName(node);
    if (byName.get(name) !== node || (selected && !selected.has(name))) continue;
    const read = readLayer(graph, node, shapes);
    if (typeof read === 'string') {
      layers.push(untouched(name, node, read));
      continue;
    }
    const layer = read;
    const before = costs(layer, undefined);
    const report: TuckerLayer = {
      name, opType: node.opType, method: 'none', ranks: [layer.cin, layer.cout], flopsBefore: before.flops, flopsAfter: before.flops,
      paramsBefore: before.params, paramsAfter: before.params, relError: 0, decomposed: false,
    };
    layers.push(report);

    const spectra = new Spectra(layer);
    let factors: Factors | undefined;
    let measured: { before: number; after: number } | undefined;

    if (rule.kind === 'latency') {
      const chosen = await chooseByLatency(layer, spectra, hooi, rule.target, { backend, opset, runs: options.runs });
      if (typeof chosen === 'string') {
        report.reason = chosen;
        continue;
      }
      factors = chosen.factors;
      measured = chosen.latency;
    } else {
      const ranks = pickRanks(layer, spectra, rule);
      if (ranks === undefined) {
        report.reason = `no ranks given in ${rule.kind === 'explicit' ? rule.source : 'the rank rule'}`;
        continue;
      }
      if (typeof ranks === 'string') {
        report.reason = ranks;
        continue;
      }
      if (ranks[0] === layer.cin && ranks[1] === layer.cout) {
        Object.assign(report, { ranks, reason: `ranks [${ranks.join(', ')}] are the full channel counts: nothing to decompose` });
        continue;
      }
      factors = factorize(layer, spectra, ranks, hooi);
    }

    const after = costs(layer, factors);
    Object.assign(report, {
      method: factors.method, ranks: factors.ranks, flopsAfter: after.flops, paramsAfter: after.params, relError: factors.relError,
    });
    if (rule.kind !== 'explicit' && rule.kind !== 'latency' && !(after.flops < before.flops || (Number.isNaN(after.flops) && after.params < before.params))) {
      report.reason = `ranks [${factors.ranks.join(', ')}] save no FLOPs (${fmt(after.flops)} vs ${fmt(before.flops)})`;
      continue;
    }
    if (measure && !measured) {
      if (!layer.inShape) {
        report.reason = 'input shape unknown, cannot measure latency (give the model static input shapes or pass measure: false)';
        continue;
      }
      const d = options.decideLayer
        ? await options.decideLayer(singleLayer(layer, undefined, opset), singleLayer(layer, factors, opset), layer.inShape)
        : await decideLayer(singleLayer(layer, undefined, opset), singleLayer(layer, factors, opset), layer.inShape, {
          backend, minGain, ...(options.runs !== undefined ? { maxRounds: options.runs } : {}),
        });
      Object.assign(report, {
        latencyBefore: d.baselineMs, latencyAfter: d.candidateMs,
        speedup: { keep: d.keep, ratio: d.ratio, interval: d.interval, confidence: d.confidence, rounds: d.rounds, clock: d.clock },
      });
      if (!d.keep) {
        report.reason = `not faster on ${backend}: ${d.reason}`;
        continue;
      }
    } else if (measured) {
      report.latencyBefore = measured.before;
      report.latencyAfter = measured.after;
      if (!(measured.after < measured.before * (1 - minGain))) {
        report.reason = `not faster on ${backend}: ${measured.after.toFixed(3)} ms decomposed vs ${measured.before.toFixed(3)} ms`;
        continue;
      }
    }
    report.decomposed = true;
    replacements.set(node, { layer, factors });
  }

  const { graph: rewritten, newParams } = applyReplacements(graph, replacements);
  return { model: { ...model, graph: rewritten }, layers, newParams };
}

// ---------------------------------------------------------------------------------------------------
// Rank rules

type ResolvedRule =
  | { kind: 'vbmf' }
  | { kind: 'energy'; energy: number }
  | { kind: 'latency'; target: number }
  | { kind: 'explicit'; ranks: Record<string, LayerRanks>; source: string };

function resolveRule(rule: TuckerRankRule): ResolvedRule {
  if (rule === 'vbmf') return { kind: 'vbmf' };
  if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) {
    throw new RebirthError(`option ranks must be 'vbmf', {energy}, {latency}, {file} or {"layer": [rin, rout]}, got ${JSON.stringify(rule)}`);
  }
  const entries = Object.entries(rule);
  const only = entries.length === 1 ? entries[0] : undefined;
  if (only && only[0] === 'energy' && typeof only[1] === 'number') {
    const e = only[1];
    if (!(e > 0 && e <= 1)) throw new RebirthError(`option ranks.energy must be in (0, 1], got ${e}`);
    return { kind: 'energy', energy: e };
  }
  if (only && only[0] === 'latency' && typeof only[1] === 'number') {
    const t = only[1];
    if (!(t > 0 && t < 1)) throw new RebirthError(`option ranks.latency (target latency fraction) must be in (0, 1), got ${t}`);
    return { kind: 'latency', target: t };
  }
  if (only && only[0] === 'file' && typeof only[1] === 'string') {
    return { kind: 'explicit', ranks: loadTuckerRanks(only[1]), source: `ranks file ${only[1]}` };
  }
  return { kind: 'explicit', ranks: checkRanksRecord(rule, 'option ranks'), source: 'option ranks' };
}

/** Singular spectra of the unfoldings, computed once per layer and only when asked for. */
class Spectra {
  #mode0?: LeftSpectrum;
  #mode1?: LeftSpectrum;
  constructor(private readonly layer: Layer) {}
  /** Cout x Cin*ks (the weight as stored). */
  get mode0(): LeftSpectrum {
    this.#mode0 ??= leftSpectrum({ rows: this.layer.cout, cols: this.layer.cin * this.layer.ks, data: this.layer.w });
    return this.#mode0;
  }
  /** Cin x Cout*ks. */
  get mode1(): LeftSpectrum {
    const l = this.layer;
    this.#mode1 ??= leftSpectrum({ rows: l.cin, cols: l.cout * l.ks, data: swapLeading(l.w, l.cout, l.cin, l.ks) });
    return this.#mode1;
  }
}

function pickRanks(layer: Layer, spectra: Spectra, rule: ResolvedRule): [number, number] | string | undefined {
  if (rule.kind === 'explicit') {
    const r = rule.ranks[layer.name];
    return r ? [r[0], r[1]] : undefined;
  }
  const rankOf = (s: Float64Array, rows: number, cols: number): number =>
    rule.kind === 'energy' ? energyRank(s, rule.energy) : evbmfFromSingularValues(s, rows, cols).rank;
  const l = layer;
  const rout = rankOf(spectra.mode0.s, l.cout, l.cin * l.ks);
  const rin = l.kind === 'svd' ? rout : rankOf(spectra.mode1.s, l.cin, l.cout * l.ks);
  if (rout === 0 || rin === 0) {
    // EVBMF rank 0: the unfolding is indistinguishable from i.i.d. noise (as untrained weights are);
    // any rank would be a guess, and rank 1 would wipe the layer out.
    const mode = rout === 0 ? (l.kind === 'svd' ? 'weight matrix' : 'mode-0 (output) unfolding') : 'mode-1 (input) unfolding';
    return `VBMF finds no component above the noise level in the ${mode}: the weights look random (untrained?); use trained weights, {energy} or explicit ranks`;
  }
  return [rin, rout];
}

function checkRanks(layer: Layer, ranks: [number, number], source: string): void {
  const [rin, rout] = ranks;
  for (const r of ranks) {
    if (!Number.isInteger(r) || r < 1) throw new RebirthError(`${source}: layer '${layer.name}' has rank ${r}; ranks must be positive integers`);
  }
  if (layer.kind === 'svd') {
    if (rin !== rout) {
      throw new RebirthError(`${source}: layer '${layer.name}' is decomposed by SVD and takes one rank: give [r, r], got [${rin}, ${rout}]`);
    }
    const max = Math.min(layer.cin, layer.cout);
    if (rin > max) throw new RebirthError(`${source}: layer '${layer.name}' (${layer.cout}x${layer.cin} matrix) has rank ${rin} > ${max}; use at most ${max}`);
    return;
  }
  if (rin > layer.cin) throw new RebirthError(`${source}: layer '${layer.name}' has R_in ${rin} > ${layer.cin} input channels; use at most ${layer.cin}`);
  if (rout > layer.cout) throw new RebirthError(`${source}: layer '${layer.name}' has R_out ${rout} > ${layer.cout} output channels; use at most ${layer.cout}`);
}

async function chooseByLatency(
  layer: Layer, spectra: Spectra, hooi: number, target: number, env: { backend: Backend; opset: number; runs: number | undefined },
): Promise<{ factors: Factors; latency: { before: number; after: number } } | string> {
  if (!layer.inShape) return 'input shape unknown, cannot measure latency for the latency rank rule';
  const before = costs(layer, undefined).flops;
  const candidates: Factors[] = [];
  const seen = new Set<string>();
  for (const f of LATENCY_FRACTIONS) {
    const rout = Math.max(1, Math.round(f * (layer.kind === 'svd' ? Math.min(layer.cin, layer.cout) : layer.cout)));
    const ranks: [number, number] = layer.kind === 'svd' ? [rout, rout] : [Math.max(1, Math.round(f * layer.cin)), rout];
    const key = ranks.join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    const factors = factorize(layer, spectra, ranks, hooi);
    if (costs(layer, factors).flops < before || Number.isNaN(before)) candidates.push(factors);
  }
  if (candidates.length === 0) return 'no rank on the latency grid saves FLOPs';
  const models = [singleLayer(layer, undefined, env.opset), ...candidates.map((c) => singleLayer(layer, c, env.opset))];
  const times = (await measureLatencies(models, layer.inShape, { backend: env.backend, ...(env.runs !== undefined ? { runs: env.runs } : {}) })).map((t) => t.min);
  const base = times[0] as number;
  // Candidates run from large to small ranks, i.e. from low to high error: the first that fits wins.
  for (let k = 0; k < candidates.length; k++) {
    const t = times[k + 1] as number;
    if (t <= base * target) return { factors: candidates[k] as Factors, latency: { before: base, after: t } };
  }
  const best = Math.min(...times.slice(1));
  return `no rank on the grid reaches ${target} of the original latency on ${env.backend} (best ${best.toFixed(3)} ms vs ${base.toFixed(3)} ms)`;
}

// ---------------------------------------------------------------------------------------------------
// Decomposition

function factorize(layer: Layer, spectra: Spectra, ranks: [number, number], hooi: number): Factors {
  const { cout, cin, ks, w } = layer;
  if (layer.kind === 'svd') {
    // W ~= U_r (U_r^T W): the rank-r truncated SVD, with S V^T carried by the first layer.
    const r = ranks[1];
    const u = spectra.mode0.leading(r);
    const q = matmulTransA(u, { rows: cout, cols: cin * ks, data: w });
    const approx = matmul(u, q);
    return { ranks: [r, r], method: 'svd', uOut: u, core: q.data, relError: frobeniusDistance(w, approx.data) / norm2(w) };
  }
  const [rin, rout] = ranks;
  let uIn = rin < cin ? spectra.mode1.leading(rin) : undefined;
  let uOut = rout < cout ? spectra.mode0.leading(rout) : undefined;
  const w0: Matrix = { rows: cout, cols: cin * ks, data: w };
  if (uIn && uOut) {
    const w1: Matrix = { rows: cin, cols: cout * ks, data: swapLeading(w, cout, cin, ks) };
    // HOOI: each factor becomes the leading left singular vectors of W projected on the other factor.
    for (let it = 0; it < hooi; it++) {
      const x = swapLeading(matmulTransA(uIn, w1).data, rin, cout, ks); // (cout, rin, ks)
      uOut = leftSpectrum({ rows: cout, cols: rin * ks, data: x }).leading(rout);
      const y = swapLeading(matmulTransA(uOut, w0).data, rout, cin, ks); // (cin, rout, ks)
      uIn = leftSpectrum({ rows: cin, cols: rout * ks, data: y }).leading(rin);
    }
  }
  const rinEff = uIn ? rin : cin;
  const routEff = uOut ? rout : cout;
  // core = W x_1 U_in^T x_0 U_out^T, laid out (rout, rin, ks) like a conv weight.
  let a = w; // (cout, rinEff, ks)
  if (uIn) a = swapLeading(matmulTransA(uIn, { rows: cin, cols: cout * ks, data: swapLeading(w, cout, cin, ks) }).data, rin, cout, ks);
  const core = uOut ? matmulTransA(uOut, { rows: cout, cols: rinEff * ks, data: a }).data : a;
  // W_hat = core x_0 U_out x_1 U_in.
  let z = uOut ? matmul(uOut, { rows: rout, cols: rinEff * ks, data: core }).data : core; // (cout, rinEff, ks)
  if (uIn) z = swapLeading(matmul(uIn, { rows: rin, cols: cout * ks, data: swapLeading(z, cout, rin, ks) }).data, cin, cout, ks);
  return {
    ranks: [rinEff, routEff], method: uIn && uOut ? 'tucker2' : 'tucker1',
    ...(uIn ? { uIn } : {}), ...(uOut ? { uOut } : {}), core, relError: frobeniusDistance(w, z) / norm2(w),
  };
}

/** (a, b, rest) -> (b, a, rest), row-major. */
function swapLeading(data: Float64Array, a: number, b: number, rest: number): Float64Array {
  const out = new Float64Array(data.length);
  for (let i = 0; i < a; i++) {
    for (let j = 0; j < b; j++) {
      const src = (i * b + j) * rest;
      out.set(data.subarray(src, src + rest), (j * a + i) * rest);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Reading layers

function isDefaultDomain(domain: string): boolean {
  return domain === '' || domain === 'ai.onnx';
}

function layerName(node: Node): string {
  return node.name || (node.outputs[0] ?? '');
}

function untouched(name: string, node: Node, reason: string): TuckerLayer {
  return { name, opType: node.opType, method: 'none', ranks: [0, 0], flopsBefore: NaN, flopsAfter: NaN, paramsBefore: NaN, paramsAfter: NaN, relError: 0, decomposed: false, reason };
}

type ShapeTable = Map<string, Dim[] | undefined>;

function shapeTable(model: Model): ShapeTable {
  const table: ShapeTable = new Map();
  try {
    const { types } = inferTypes(model, { strict: false, batch: 1 });
    for (const [name, t] of types) table.set(name, t.shape);
  } catch {
    // Shapes only feed FLOP counts and latency measurements; the decomposition itself does not need them.
  }
  return table;
}

function numericShape(table: ShapeTable, name: string): number[] | undefined {
  const s = table.get(name);
  return s && s.every((d): d is number => typeof d === 'number') ? s : undefined;
}

function readLayer(graph: Graph, node: Node, shapes: ShapeTable): Layer | string {
  if (node.opType === 'ConvTranspose') return 'ConvTranspose is not decomposed (only Conv, Gemm and MatMul are)';
  const weightName = node.inputs[1] ?? '';
  const wt = graph.initializers.get(weightName);
  if (!wt) return `weight '${weightName}' is not an initializer (a constant weight is needed)`;
  if (wt.dataType !== DataType.FLOAT) return `weight '${weightName}' is ${dataTypeName(wt.dataType)}; only float32 weights are decomposed`;
  const values = Float64Array.from(tensorToFloat32(wt));
  const inShape = numericShape(shapes, node.inputs[0] ?? '');
  const outShape = numericShape(shapes, node.outputs[0] ?? '');
  const biasName = node.inputs[2] ?? '';
  const biasTensor = biasName ? graph.initializers.get(biasName) : undefined;
  if (biasName && !biasTensor) return `bias '${biasName}' is not an initializer (a constant bias is needed)`;
  const base = {
    node, name: layerName(node), beta: 1, biasParams: biasTensor ? numel(biasTensor.dims) : 0, tensors: biasTensor ? [wt, biasTensor] : [wt],
    ...(inShape ? { inShape } : {}), ...(outShape ? { outShape } : {}),
  };

  if (node.opType === 'Conv') {
    const group = getInt(node, 'group', 1);
    if (group !== 1) {
      return `grouped conv (group ${group}${group === wt.dims[0] ? ', depthwise' : ''}): its kernel is already block-diagonal across channels, Tucker-2 would mix the groups`;
    }
    if (wt.dims.length < 3) return `Conv weight '${weightName}' has rank ${wt.dims.length}; expected Cout x Cin x k...`;
    const [cout, cin, ...kernel] = wt.dims as [number, number, ...number[]];
    const ks = numel(kernel);
    return { ...base, op: 'Conv', kind: ks === 1 ? 'svd' : 'tucker', cout, cin, kernel, ks, w: values, ...(biasName ? { bias: biasName } : {}) };
  }
  if (wt.dims.length !== 2) return `${node.opType} weight '${weightName}' has rank ${wt.dims.length}; only 2-D weights are decomposed`;
  const [d0, d1] = wt.dims as [number, number];
  if (node.opType === 'Gemm') {
    if (getInt(node, 'transA', 0) !== 0) return 'Gemm with transA = 1 is not decomposed';
    const transB = getInt(node, 'transB', 0) !== 0;
    const alpha = getFloat(node, 'alpha', 1);
    // y = alpha x B' + beta C, B' = B^T when transB: W (out x in) = alpha B' ^T.
    const w = transB ? values : transpose({ rows: d0, cols: d1, data: values }).data;
    if (alpha !== 1) for (let i = 0; i < w.length; i++) w[i] = (w[i] as number) * alpha;
    const [cout, cin] = transB ? [d0, d1] : [d1, d0];
    return { ...base, op: 'Gemm', kind: 'svd', cout, cin, kernel: [], ks: 1, w, beta: getFloat(node, 'beta', 1), ...(biasName ? { bias: biasName } : {}) };
  }
  // MatMul x (.., K) @ B (K x N): W = B^T.
  const w = transpose({ rows: d0, cols: d1, data: values }).data;
  return { ...base, op: 'MatMul', kind: 'svd', cout: d1, cin: d0, kernel: [], ks: 1, w, biasParams: 0 };
}

// ---------------------------------------------------------------------------------------------------
// Costs

function costs(layer: Layer, f: Factors | undefined): { flops: number; params: number } {
  const { cout, cin, ks } = layer;
  const outPix = layer.outShape ? layer.outShape.slice(0, layer.op === 'Conv' ? undefined : -1).reduce((a, b) => a * b, 1) / (layer.op === 'Conv' ? cout : 1) : NaN;
  const inPix = layer.inShape ? layer.inShape.slice(0, layer.op === 'Conv' ? undefined : -1).reduce((a, b) => a * b, 1) / (layer.op === 'Conv' ? cin : 1) : NaN;
  if (!f) return { flops: 2 * cout * cin * ks * outPix, params: cout * cin * ks + layer.biasParams };
  if (f.method === 'svd') {
    const r = f.ranks[0];
    return { flops: 2 * r * (cin + cout) * outPix, params: r * (cin + cout) + layer.biasParams };
  }
  const [rin, rout] = f.ranks;
  let flops = 2 * rout * rin * ks * outPix;
  let params = rout * rin * ks + layer.biasParams;
  if (f.uIn) {
    flops += 2 * cin * rin * inPix;
    params += cin * rin;
  }
  if (f.uOut) {
    flops += 2 * rout * cout * outPix;
    params += rout * cout;
  }
  return { flops, params };
}

function fmt(x: number): string {
  return Number.isNaN(x) ? 'unknown' : x >= 1e6 ? `${(x / 1e6).toFixed(1)} MFLOPs` : `${x} FLOPs`;
}

// ---------------------------------------------------------------------------------------------------
// Building nodes

interface Built {
  nodes: Node[];
  tensors: Tensor[];
}

/** Collision-free names; node names and value names are separate namespaces in ONNX. */
interface FreshNames {
  node(base: string): string;
  value(base: string): string;
}

/**
 * The nodes replacing `layer` (or the original node when f is undefined), reading the layer's input and
 * writing its output. A node and the value it writes share a name, as in Caffe-converted models.
 */
function buildNodes(layer: Layer, f: Factors | undefined, fresh: FreshNames): Built {
  const node = layer.node;
  if (!f) return { nodes: [node], tensors: [] };
  const x = node.inputs[0] as string;
  const y = node.outputs[0] as string;
  const base = layer.name;
  const tensors: Tensor[] = [];
  const weight = (suffix: string, dims: number[], data: Float64Array): string => {
    const t = floatTensor(fresh.value(`${base}/${suffix}_w`), dims, Float32Array.from(data));
    tensors.push(t);
    return t.name;
  };
  const mk = (suffix: string, opType: string, inputs: string[], output: string, attributes: Attribute[]): Node => ({
    name: fresh.node(`${base}/${suffix}`), opType, domain: '', inputs, outputs: [output], attributes, docString: '',
  });
  const biasInputs = layer.bias ? [layer.bias] : [];
  const ones = layer.kernel.map(() => 1);
  const pointwise = (): Attribute[] => [makeAttr('kernel_shape', ones)];

  if (f.method === 'svd') {
    const r = f.ranks[0];
    const u = f.uOut as Matrix; // cout x r
    const q = f.core; // r x cin
    const mid = fresh.value(`${base}/svd_in`);
    if (layer.op === 'Conv') {
      const w1 = weight('svd_in', [r, layer.cin, ...ones], q);
      const w2 = weight('svd_out', [layer.cout, r, ...ones], u.data);
      return {
        nodes: [
          mk('svd_in', 'Conv', [x, w1], mid, node.attributes.map((a) => ({ ...a }))),
          mk('svd_out', 'Conv', [mid, w2, ...biasInputs], y, pointwise()),
        ],
        tensors,
      };
    }
    if (layer.op === 'Gemm') {
      const w1 = weight('svd_in', [r, layer.cin], q);
      const w2 = weight('svd_out', [layer.cout, r], u.data);
      const second: Attribute[] = [makeAttr('transB', 1)];
      if (layer.bias && layer.beta !== 1) second.push(makeAttr('beta', { float: layer.beta }));
      return { nodes: [mk('svd_in', 'Gemm', [x, w1], mid, [makeAttr('transB', 1)]), mk('svd_out', 'Gemm', [mid, w2, ...biasInputs], y, second)], tensors };
    }
    const w1 = weight('svd_in', [layer.cin, r], transpose({ rows: r, cols: layer.cin, data: q }).data);
    const w2 = weight('svd_out', [r, layer.cout], transpose(u).data);
    return { nodes: [mk('svd_in', 'MatMul', [x, w1], mid, []), mk('svd_out', 'MatMul', [mid, w2], y, [])], tensors };
  }

  const [rin, rout] = f.ranks;
  const nodes: Node[] = [];
  let current = x;
  if (f.uIn) {
    const w = weight('tucker_in', [rin, layer.cin, ...ones], transpose(f.uIn).data);
    current = fresh.value(`${base}/tucker_in`);
    nodes.push(mk('tucker_in', 'Conv', [x, w], current, pointwise()));
  }
  const coreOut = f.uOut ? fresh.value(`${base}/tucker_core`) : y;
  const wc = weight('tucker_core', [rout, rin, ...layer.kernel], f.core);
  nodes.push(mk('tucker_core', 'Conv', [current, wc, ...(f.uOut ? [] : biasInputs)], coreOut, node.attributes.map((a) => ({ ...a }))));
  if (f.uOut) {
    const w = weight('tucker_out', [layer.cout, rout, ...ones], f.uOut.data);
    nodes.push(mk('tucker_out', 'Conv', [coreOut, w, ...biasInputs], y, pointwise()));
  }
  return { nodes, tensors };
}

function singleLayer(layer: Layer, f: Factors | undefined, opset: number): Model {
  const names = new NameGen();
  const { nodes, tensors } = buildNodes(layer, f, { node: (b) => b, value: (b) => names.fresh(b) });
  const node = layer.node;
  const initializers = [...tensors];
  for (const t of layer.tensors) if (nodes.some((n) => n.inputs.includes(t.name))) initializers.push(t);
  return layerModel({
    input: { name: node.inputs[0] as string, shape: layer.inShape as number[] },
    output: node.outputs[0] as string,
    nodes: nodes.map((n) => ({ ...n, inputs: [...n.inputs] })),
    initializers,
    opset,
  });
}

// ---------------------------------------------------------------------------------------------------
// Rewriting the graph

function applyReplacements(graph: Graph, replacements: Map<Node, { layer: Layer; factors: Factors }>): { graph: Graph; newParams: string[] } {
  const out: Graph = { ...graph, nodes: [], initializers: new Map(graph.initializers), valueInfo: [...graph.valueInfo] };
  const nodeNames = new NameGen();
  for (const n of graph.nodes) nodeNames.fresh(n.name);
  const valueNames = new NameGen(graph);
  const fresh: FreshNames = { node: (b) => nodeNames.fresh(b), value: (b) => valueNames.fresh(b) };
  const newParams: string[] = [];
  const removedWeights = new Set<string>();
  for (const node of graph.nodes) {
    const r = replacements.get(node);
    if (!r) {
      out.nodes.push(node);
      continue;
    }
    const { nodes, tensors } = buildNodes(r.layer, r.factors, fresh);
    out.nodes.push(...nodes);
    for (const t of tensors) {
      out.initializers.set(t.name, t);
      newParams.push(t.name);
    }
    removedWeights.add(node.inputs[1] as string);
  }
  // Drop replaced weights nobody reads any more (a weight shared with another node stays).
  const stillRead = new Set<string>();
  for (const n of out.nodes) for (const i of n.inputs) stillRead.add(i);
  for (const w of removedWeights) {
    if (!stillRead.has(w) && !graph.inputs.some((v) => v.name === w) && !graph.outputs.some((v) => v.name === w)) out.initializers.delete(w);
  }
  return { graph: out, newParams };
}
