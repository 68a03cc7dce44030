/**
 * BatchNormalization while retraining a linearized network, folded away before the final merge.
 *
 * Why: `rebirth shrink` works on the folded network, where every BatchNorm is already inside its conv's
 * weights. With the activations between them removed, a merged run is a product of linear maps, so an
 * SGD step on one factor rescales the whole product and the factors' gradients multiply: at lr 0.01 the
 * linearized mobilenetv2-mini's loss rose to 358 in its first epoch and it ended at chance (docs/shrink.md).
 * The depth-compression papers fine-tune with their BatchNorms in place (training mode, batch
 * statistics), which keeps each factor's output at a fixed scale whatever the step did to its weights.
 *
 * So each changed conv gets a BatchNormalization after it that is the identity on the calibration
 * images: with that conv's per-channel mean m and variance v over them,
 *
 *     scale = sqrt(v + eps), B = m, running mean = m, running var = v
 *     BN(y) = scale (y - mean) / sqrt(var + eps) + B = y            (inference form: exactly)
 *
 * and in training mode, (y - m_batch) / sqrt(v_batch + eps) * sqrt(v + eps) + m, close to y while the
 * batch's statistics are close to the calibration ones. Retraining updates scale and B as parameters and
 * the running statistics as state; afterwards each BatchNorm folds into its conv exactly (the rule of
 * `rebirth optimize`, fold-batchnorm), the conv keeps its name, and the runs merge as before.
 *
 * Only padding 'push' allows it: folding gives the conv a bias, and with 'exact' a biased conv before a
 * padded one no longer commutes with the merge (docs/shrink.md, section 2); after the push only the
 * first conv of a run is padded, where a bias changes nothing.
 */
import type { Model, Node } from '../ir/graph.js';
import { makeAttr } from '../ir/attributes.js';
import { floatTensor } from '../ir/tensor.js';
import { NameGen, topologicalSort } from '../ir/topology.js';
import { cloneModel, runPasses } from '../rewrite/engine.js';
import { foldBatchNorm } from '../rewrite/rules/fold-batchnorm.js';
import { RebirthError } from '../errors.js';
import { calibrationBatches, type Calibration } from './importance.js';

const EPSILON = 1e-5;

export interface ChannelStats {
  mean: Float64Array;
  variance: Float64Array;
}

/** Per-channel mean and (population) variance of NCHW float values of `model` over the calibration images. */
export async function channelStats(model: Model, values: readonly string[], calib: Calibration, options: { threads?: number; batchSize?: number } = {}): Promise<Map<string, ChannelStats>> {
  const probe = cloneModel(model);
  const outputs = new Set(probe.graph.outputs.map((o) => o.name));
  for (const v of values) if (!outputs.has(v)) probe.graph.outputs.push({ name: v, elemType: 1, docString: '' });
  // Float64 sums: 512 images of 28x28 positions is 4e5 terms per channel.
  const sums = new Map<string, { s: Float64Array; s2: Float64Array; n: number }>();
  for await (const { n, out } of calibrationBatches(probe, calib, values, options)) {
    for (const v of values) {
      const t = out[v];
      if (t?.type !== 'float32' || t.dims.length < 2) throw new RebirthError(`normalize: value '${v}' is not a float32 tensor of rank >= 2`);
      const channels = t.dims[1] as number;
      const spatial = t.dims.slice(2).reduce((a, b) => a * b, 1);
      const acc = sums.get(v) ?? { s: new Float64Array(channels), s2: new Float64Array(channels), n: 0 };
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < channels; c++) {
          const base = (i * channels + c) * spatial;
          let s = 0;
          let s2 = 0;
          for (let p = 0; p < spatial; p++) {
            const y = t.data[base + p] as number;
            s += y;
            s2 += y * y;
          }
          acc.s[c] = (acc.s[c] as number) + s;
          acc.s2[c] = (acc.s2[c] as number) + s2;
        }
      }
      acc.n += n * spatial;
      sums.set(v, acc);
    }
  }
  const stats = new Map<string, ChannelStats>();
  for (const [v, { s, s2, n }] of sums) {
    const mean = s.map((x) => x / n);
    const variance = s2.map((x, c) => Math.max(0, x / n - (mean[c] as number) ** 2));
    stats.set(v, { mean, variance });
  }
  return stats;
}

export interface Normalized {
  model: Model;
  /** The inserted BatchNormalization nodes, by the conv each follows. */
  batchNorms: Map<string, string>;
}

/**
 * A copy of `model` with a BatchNormalization after each named conv, the identity on the calibration
 * images (see the file comment). The conv's output name moves to the BatchNorm, so readers are unchanged.
 */
export async function withBatchNorms(model: Model, convs: readonly string[], calib: Calibration, options: { threads?: number } = {}): Promise<Normalized> {
  const m = cloneModel(model);
  const g = m.graph;
  const byName = new Map(g.nodes.map((n) => [n.name, n]));
  const nodes = convs.map((c) => {
    const n = byName.get(c);
    if (!n || n.opType !== 'Conv') throw new RebirthError(`normalize: no conv named '${c}' in the model`);
    return n;
  });
  const stats = await channelStats(model, nodes.map((n) => n.outputs[0] as string), calib, options);
  const names = new NameGen(g);
  const batchNorms = new Map<string, string>();
  for (const conv of nodes) {
    const y = conv.outputs[0] as string;
    const st = stats.get(y) as ChannelStats;
    const pre = names.fresh(`${y}/pre_bn`);
    conv.outputs[0] = pre;
    const tensor = (suffix: string, values: Float64Array): string => {
      const name = names.fresh(`${conv.name}/bn_${suffix}`);
      g.initializers.set(name, floatTensor(name, [values.length], Float32Array.from(values)));
      return name;
    };
    const bn: Node = {
      name: names.fresh(`${conv.name}/bn`), opType: 'BatchNormalization', domain: '',
      inputs: [pre, tensor('scale', st.variance.map((v) => Math.sqrt(v + EPSILON))), tensor('bias', st.mean), tensor('mean', st.mean), tensor('var', st.variance)],
      outputs: [y], attributes: [makeAttr('epsilon', { float: EPSILON })], docString: '',
    };
    g.nodes.push(bn);
    batchNorms.set(conv.name, bn.name);
  }
  topologicalSort(g);
  return { model: m, batchNorms };
}

/** Fold the inserted BatchNorms back into their convs (in place); every one must fold. */
export function foldBatchNorms(model: Model, normalized: Normalized): void {
  runPasses(model, [foldBatchNorm]);
  const left = new Set(model.graph.nodes.map((n) => n.name));
  for (const [conv, bn] of normalized.batchNorms) {
    if (left.has(bn)) throw new RebirthError(`normalize: the BatchNormalization after '${conv}' did not fold into it; report this`);
    if (!left.has(conv)) throw new RebirthError(`normalize: conv '${conv}' lost its name while folding; report this`);
  }
}
