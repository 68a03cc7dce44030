// Build ONE ONNX training graph from an inference model: the training-mode forward, the loss, and the
// backward pass emitted by the rules of GRADIENTS, all in standard ONNX ops, so that onnxruntime-node's
// InferenceSession runs a whole training step (loss, every parameter gradient, updated BN statistics).
import type { Graph, Model, Node } from '../ir/graph.js';
import { GraphBuilder, tensorValue } from '../ir/builder.js';
import { DataType, dataTypeName } from '../ir/tensor.js';
import { removeDeadCode, topologicalSort } from '../ir/topology.js';
import { RebirthError } from '../errors.js';
import { Emitter, ForwardContext, GradContext, type EmitterState, type TrainExtras, type TrainSettings } from './context.js';
import { defaultLabelsName, emitLoss, type LossSpec, type ResolvedLoss } from './losses.js';

export type { LossSpec } from './losses.js';
import { upgradeNodes } from './opset.js';
import { normalizeTrainingExport, type TrainingExportReport } from './training-export.js';
import { GRADIENTS, type GradRule } from './rules.js';
import { ShapeInfo } from '../shapes/info.js';
import { foldShapeSubgraphs } from '../shapes/fold.js';

/**
 * Opset of training graphs: ScatterElements with reduction='add' (MaxPool's gradient) needs 16, BitwiseXor
 * on uint32 (the seeded dropout-mask hash) needs 18. Forward nodes of older models are upgraded (opset.ts).
 */
export const TRAINING_OPSET = 18;

export interface TrainingGraphOptions {
  /** One loss, or several whose weighted values are summed (e.g. cross-entropy + distillation). */
  loss: LossSpec | LossSpec[];
  /** Initializer names to train: they become graph inputs, and their gradients graph outputs. */
  trainable: readonly string[];
  /** 'train': batch statistics in BatchNormalization, dropout on. 'eval': inference semantics (frozen BN). */
  mode?: 'train' | 'eval';
  /**
   * Keep every BatchNormalization in inference mode in 'train' mode too: the running statistics are used as
   * constants (they stay initializers and are not updated), while scale and bias train unless they are left
   * out of `trainable`. Dropout is unaffected. (What PyTorch users do with `bn.eval()` while fine-tuning.)
   */
  freezeBatchNorm?: boolean;
  /**
   * Dropout masks: 'seed' (default) hashes them in the graph from an int64 scalar input `seedName` fed each
   * step; 'ort' lets ORT draw them from a fixed seed attribute; 'input' makes each mask a bool graph input;
   * 'none' keeps Dropout the identity in training too (deterministic: what the PyTorch references of
   * test/fixtures/torch use, which put their Dropout modules in eval()).
   */
  dropoutMasks?: 'seed' | 'ort' | 'input' | 'none';
  /** Seed of ORT-drawn dropout masks ('ort' mode; each Dropout node derives its own). */
  seed?: number;
  /** Running variance update: ONNX's population variance (default) or PyTorch's unbiased variance. */
  runningVariance?: 'population' | 'unbiased';
  /** Forward values to keep as outputs too (default: the first loss's output, e.g. the logits). */
  outputs?: string[];
  /** Minimum opset of the training graph (default TRAINING_OPSET; a model at a newer opset keeps its own). */
  opset?: number;
}

export interface TrainingGraph {
  /** The training graph. */
  model: Model;
  /** Graph inputs holding the trainable parameters, in `trainable` order (feed the current weights). */
  paramInputs: string[];
  /** Parameter -> graph output holding dLoss/dParameter. */
  gradOutputs: Record<string, string>;
  /** BatchNormalization running statistic (initializer name) -> graph output holding its updated value. */
  extraOutputs: Record<string, string>;
  /** Running statistics, moved from initializers to graph inputs: feed them each step (initial values are the model's initializers). */
  stateInputs: string[];
  /** Dropout node -> bool mask input to feed each step, when dropoutMasks is 'input'. */
  maskInputs: Record<string, { input: string; ratio: number }>;
  /** Graph output holding the scalar loss. */
  lossOutput: string;
  /** The model's first graph input that is not an initializer (the data input). */
  inputName: string | undefined;
  /** Label input of the first loss that reads labels. */
  labelsName: string | undefined;
  /** Output of the first loss (e.g. the logits), also a graph output unless `outputs` said otherwise. */
  logitsOutput: string;
  /** Shape of each parameter input. */
  paramShapes: Record<string, number[]>;
  /** int64 scalar input seeding dropout masks ('seed' mode, when the model has Dropout). */
  seedName: string | undefined;
  /** Default-domain opset of the training graph. */
  opset: number;
  /** Training-mode nodes of the model (a training-mode export) rewritten into their inference form first. */
  trainingExport: TrainingExportReport;
}

function defaultOpset(model: Model): number {
  const o = model.opsetImports.find((i) => i.domain === '' || i.domain === 'ai.onnx');
  if (!o) throw new RebirthError('autodiff: the model imports no default-domain opset; it is not a valid ONNX model');
  return o.version;
}

function cloneNode(n: Node): Node {
  return { ...n, inputs: [...n.inputs], outputs: [...n.outputs], attributes: [...n.attributes] };
}

function nodeLabel(n: Node): string {
  return `node '${n.name || n.opType}' (${n.domain ? `${n.domain}.` : ''}${n.opType})`;
}

function ruleFor(node: Node): GradRule | 'none' | undefined {
  if (node.domain !== '' && node.domain !== 'ai.onnx') return undefined;
  return Object.prototype.hasOwnProperty.call(GRADIENTS, node.opType) ? GRADIENTS[node.opType] : undefined;
}

export function buildTrainingGraph(exported: Model, options: TrainingGraphOptions): TrainingGraph {
  const specs = Array.isArray(options.loss) ? options.loss : [options.loss];
  if (specs.length === 0) throw new RebirthError('autodiff: options.loss is empty; give at least one loss');
  // Exports compute shapes at run time (Shape -> Gather -> Concat -> Reshape, torch's LocalResponseNorm
  // pads and its If on a shape check); the rules need those shapes static and If has no gradient, so the
  // shape engine folds them into constants first (weights are never folded: see src/shapes/fold.ts).
  // Values the losses read stay even when no graph output needs them.
  const read = [...specs.flatMap((l) => (l.output ? [l.output] : [])), ...(options.outputs ?? [])];
  const model = foldShapeSubgraphs(exported, { keep: read }).model;
  const firstOutput = model.graph.outputs[0]?.name;
  const losses: ResolvedLoss[] = specs.map((l) => {
    const output = l.output ?? firstOutput;
    if (!output) throw new RebirthError('autodiff: the model has no outputs; name the loss output in options.loss.output');
    const resolved: ResolvedLoss = { ...l, output, labelsName: ('labelsName' in l ? l.labelsName : undefined) ?? defaultLabelsName(l) ?? '' };
    return resolved;
  });
  if (options.trainable.length === 0) throw new RebirthError('autodiff: options.trainable is empty; name the initializers to train');
  const from = defaultOpset(model);
  const opset = Math.max(options.opset ?? TRAINING_OPSET, from);
  const src = model.graph;
  const graph: Graph = {
    ...src, inputs: [...src.inputs], outputs: [], valueInfo: [...src.valueInfo],
    initializers: new Map(src.initializers), nodes: src.nodes.map(cloneNode),
  };
  const b = new GraphBuilder(graph);
  // Before the opset upgrade: BatchNormalization's training outputs changed meaning at opset 14.
  const trainingExport = normalizeTrainingExport(graph, from);
  upgradeNodes(graph, from, Math.min(opset, TRAINING_OPSET), b);
  topologicalSort(graph);

  const inputNames = new Set(graph.inputs.map((v) => v.name));
  let dtype: number | undefined;
  for (const p of options.trainable) {
    const t = graph.initializers.get(p);
    if (!t) {
      throw new RebirthError(inputNames.has(p)
        ? `autodiff: trainable '${p}' is a graph input without an initializer; give the weights as initializers`
        : `autodiff: trainable '${p}' is not an initializer of the model; check the name`);
    }
    if (t.dataType !== DataType.FLOAT && t.dataType !== DataType.DOUBLE) {
      throw new RebirthError(`autodiff: trainable '${p}' is ${dataTypeName(t.dataType)}; only float and double tensors can be trained`);
    }
    if (dtype !== undefined && dtype !== t.dataType) throw new RebirthError(`autodiff: trainable '${p}' is ${dataTypeName(t.dataType)} but others are ${dataTypeName(dtype)}; train one float type at a time`);
    dtype = t.dataType;
  }
  const training = (options.mode ?? 'train') === 'train';
  const batchNormTraining = training && options.freezeBatchNorm !== true;
  if (batchNormTraining) {
    // A training-mode BatchNormalization normalizes with batch statistics, so no gradient reaches its
    // running statistics: they are state the step updates (extraOutputs), never parameters.
    const trainableSet = new Set(options.trainable);
    for (const n of graph.nodes) {
      if (n.opType !== 'BatchNormalization' || (n.domain !== '' && n.domain !== 'ai.onnx')) continue;
      for (const k of [3, 4]) {
        const name = n.inputs[k];
        if (name && trainableSet.has(name)) {
          throw new RebirthError(`autodiff: trainable '${name}' is the running ${k === 3 ? 'mean' : 'variance'} of ${nodeLabel(n)}, which is state updated from batch statistics, not a parameter; remove it from trainable`);
        }
      }
    }
  }
  const info = ShapeInfo.of({ ...model, opsetImports: [{ domain: '', version: opset }], graph });

  // Which values depend on a trainable parameter, and which values the loss reads.
  const requires = new Set(options.trainable);
  for (const n of graph.nodes) {
    if (ruleFor(n) === 'none') continue;
    if (n.inputs.some((i) => i && requires.has(i))) for (const o of n.outputs) if (o) requires.add(o);
  }
  const reaches = new Set(losses.map((l) => l.output));
  for (const l of losses) {
    if (!info.types.has(l.output) && !graph.nodes.some((n) => n.outputs.includes(l.output))) {
      throw new RebirthError(`autodiff: loss output '${l.output}' is not a value of the model; name one of its outputs or node outputs`);
    }
  }
  for (let k = graph.nodes.length - 1; k >= 0; k--) {
    const n = graph.nodes[k] as Node;
    if (n.outputs.some((o) => o && reaches.has(o))) for (const i of n.inputs) if (i) reaches.add(i);
  }
  const onPath = (n: Node): boolean => ruleFor(n) !== 'none' && n.inputs.some((i) => i && requires.has(i)) && n.outputs.some((o) => o && reaches.has(o));
  for (const n of graph.nodes) {
    if (onPath(n) && ruleFor(n) === undefined) {
      throw new RebirthError(`autodiff: no gradient rule for ${nodeLabel(n)}, which lies between a trainable parameter and the loss; freeze the parameters before it or add a rule to GRADIENTS`);
    }
  }
  for (const p of options.trainable) {
    if (!reaches.has(p)) throw new RebirthError(`autodiff: trainable '${p}' does not affect the loss; remove it from trainable`);
  }

  // Training-mode forward.
  const st: EmitterState = { builder: b, info, opset, dtype: dtype ?? DataType.FLOAT, constants: new Map() };
  const settings: TrainSettings = {
    dropoutMasks: options.dropoutMasks ?? 'seed', seed: options.seed ?? 0, runningVariance: options.runningVariance ?? 'population',
    batchNormTraining,
  };
  const extras: TrainExtras = { stateOutputs: new Map(), maskInputs: new Map() };
  const forwardNodes = graph.nodes;
  graph.nodes = [];
  const saved = new Map<Node, ReadonlyMap<string, string>>();
  forwardNodes.forEach((node, index) => {
    const row = ruleFor(node);
    if (row && row !== 'none' && row.forward) {
      const fc = new ForwardContext(st, node, settings, extras, index, onPath(node), training);
      row.forward(fc);
      saved.set(node, fc.saved);
    } else {
      graph.nodes.push(node);
    }
  });

  // Loss.
  const lossEmitter = new Emitter(st, 'loss');
  const known = (name: string): boolean => info.types.has(name) || graph.initializers.has(name) || inputNames.has(name)
    || forwardNodes.some((n) => n.outputs.includes(name));
  const labelInput = (name: string, elemType: number, shape: ReturnType<typeof info.shape>): string => {
    if (known(name)) return name;
    b.names.fresh(name);
    graph.inputs.push(tensorValue(name, shape, elemType));
    inputNames.add(name);
    info.set(name, { elemType, shape });
    return name;
  };
  const terms = losses.map((l) => emitLoss(lossEmitter, l, labelInput));
  const lossOutput = b.names.fresh('loss');
  lossEmitter.emitExact(terms.length === 1 ? 'Identity' : 'Sum', terms.map((t) => t.loss), {}, [lossOutput]);

  // Backward, in reverse topological order: every consumer of a value is done before its producer.
  const contributions = new Map<string, string[]>();
  const contribute = (value: string, grad: string): void => {
    const list = contributions.get(value);
    if (list) list.push(grad);
    else contributions.set(value, [grad]);
  };
  for (const t of terms) contribute(t.seedValue, t.seedGrad);
  const totals = new Map<string, string>();
  const gradOf = (value: string): string | undefined => {
    const hit = totals.get(value);
    if (hit) return hit;
    const list = contributions.get(value);
    if (!list) return undefined;
    // Pairwise Add rather than one Sum: ORT's variadic Sum kernel measured slower than Add for two inputs.
    let total = list[0] as string;
    for (const g of list.slice(1)) total = lossEmitter.add(total, g);
    info.set(total, { elemType: st.dtype, shape: info.shape(value) });
    totals.set(value, total);
    return total;
  };
  for (let k = forwardNodes.length - 1; k >= 0; k--) {
    const node = forwardNodes[k] as Node;
    if (!onPath(node)) continue;
    const row = ruleFor(node) as GradRule;
    const outGrads = node.outputs.map((o) => (o ? gradOf(o) : undefined));
    if (outGrads.every((g) => g === undefined)) continue;
    const needs = node.inputs.map((i) => !!i && requires.has(i));
    const ctx = new GradContext(st, node, outGrads, needs, saved.get(node) ?? new Map<string, string>());
    const grads = row.grad(ctx);
    grads.forEach((g, i) => {
      if (g && needs[i]) contribute(node.inputs[i] as string, g);
    });
  }

  // Outputs: loss, gradients, updated running statistics, requested forward values.
  graph.outputs = [tensorValue(lossOutput, [], st.dtype)];
  const gradOutputs: Record<string, string> = {};
  for (const p of options.trainable) {
    const g = gradOf(p);
    if (!g) throw new RebirthError(`autodiff: no gradient reaches trainable '${p}' (it only feeds ops without a gradient); remove it from trainable`);
    const name = b.names.fresh(`${p}_grad`);
    lossEmitter.emitExact('Identity', [g], {}, [name]);
    gradOutputs[p] = name;
    graph.outputs.push(tensorValue(name, info.shape(p), st.dtype));
  }
  const extraOutputs: Record<string, string> = {};
  const stateInputs: string[] = [];
  for (const [state, out] of extras.stateOutputs) {
    extraOutputs[state] = out;
    graph.outputs.push(tensorValue(out, info.shape(state), info.elemType(state) ?? st.dtype));
    // A running statistic is state the caller carries from step to step, like the parameters: a plain
    // input (an initializer default would silently serve a stale value to a caller who forgets to feed it).
    const t = graph.initializers.get(state);
    if (t) {
      graph.initializers.delete(state);
      if (!inputNames.has(state)) graph.inputs.push(tensorValue(state, t.dims, t.dataType));
      inputNames.add(state);
      stateInputs.push(state);
    }
  }
  for (const o of options.outputs ?? [(losses[0] as ResolvedLoss).output]) {
    if (graph.outputs.some((v) => v.name === o)) continue;
    if (!known(o)) throw new RebirthError(`autodiff: requested output '${o}' is not a value of the model`);
    graph.outputs.push(tensorValue(o, info.shape(o), info.elemType(o)));
  }

  // Parameters become inputs; frozen initializers stay initializers.
  for (const p of options.trainable) {
    const t = graph.initializers.get(p);
    graph.initializers.delete(p);
    if (!inputNames.has(p)) graph.inputs.push(tensorValue(p, t?.dims, t?.dataType));
  }
  graph.valueInfo = [];
  removeDeadCode(graph);

  const opsetImports = model.opsetImports.filter((o) => o.domain !== '' && o.domain !== 'ai.onnx');
  opsetImports.unshift({ domain: '', version: opset });
  const maskInputs: Record<string, { input: string; ratio: number }> = {};
  for (const [k, v] of extras.maskInputs) maskInputs[k] = v;
  return {
    model: { ...model, irVersion: Math.max(model.irVersion, 8), opsetImports, graph },
    paramInputs: [...options.trainable],
    gradOutputs,
    extraOutputs,
    stateInputs,
    maskInputs,
    lossOutput,
    opset,
    inputName: src.inputs.find((v) => !src.initializers.has(v.name))?.name,
    labelsName: losses.find((l) => l.labelsName)?.labelsName,
    logitsOutput: (losses[0] as ResolvedLoss).output,
    paramShapes: Object.fromEntries(options.trainable.map((p) => [p, [...(src.initializers.get(p)?.dims ?? [])]])),
    seedName: extras.seedInput,
    trainingExport,
  };
}
