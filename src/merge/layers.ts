/**
 * Read-only views of the graph and of the layers the merges touch: 2-D Conv with constant weights and
 * 2-D MaxPool/AveragePool, with pads resolved to explicit numbers. A layer that does not fit comes back
 * as a one-line reason (for `--explain`), never as an exception: an unusual layer only means "not merged".
 */
import type { Graph, Model, Node } from '../ir/graph.js';
import { getInt, getInts, getString } from '../ir/attributes.js';
import { consumers, graphOutputNames, producers } from '../ir/topology.js';
import { resolveAutoPad, type Window1D } from './geometry.js';
import type { ShapeInference } from '../shapes/infer.js';
import { knownShapes, numericShape, type ShapeMap } from '../shapes/known.js';

/** Producers, consumers, graph outputs and shapes of one graph, computed once per planning pass. */
export interface GraphView {
  graph: Graph;
  producers: Map<string, Node>;
  consumers: Map<string, Node[]>;
  graphOutputs: Set<string>;
  shapes: ShapeMap;
  inference: ShapeInference;
}

export function viewOf(model: Model): GraphView {
  const graph = model.graph;
  const { shapes, inference } = knownShapes(model);
  return { graph, producers: producers(graph), consumers: consumers(graph), graphOutputs: graphOutputNames(graph), shapes, inference };
}

export function label(node: Node): string {
  return `'${node.name || node.outputs[0] || node.opType}' (${node.opType})`;
}

/** Why `value` cannot disappear inside a merged block, or undefined when it can (one reader, not an output). */
export function internalValueProblem(view: GraphView, value: string): string | undefined {
  if (view.graphOutputs.has(value)) return `'${value}' is a graph output, which merging would remove`;
  const readers = view.consumers.get(value) ?? [];
  if (readers.length !== 1) {
    return `'${value}' is read by ${readers.length} nodes (${readers.map((n) => n.name || n.opType).join(', ')}); the intermediates of a merged block must have a single consumer`;
  }
  return undefined;
}

export interface ConvLayer {
  node: Node;
  input: string;
  weight: string;
  bias?: string;
  output: string;
  outChannels: number;
  /** Input channels per group (weight dim 1). */
  inPerGroup: number;
  group: number;
  /** [kh, kw]. */
  kernel: [number, number];
  strides: [number, number];
  /** Per axis [h, w]; undefined when auto_pad needs an input size that is unknown. */
  window?: [Window1D, Window1D];
  /** Input NCHW shape when known. */
  inputShape?: number[];
}

export interface PoolLayer {
  node: Node;
  kind: 'max' | 'avg';
  window: [Window1D, Window1D];
  countIncludePad: boolean;
}

/** A 2-D Conv with constant weights and no dilation, or the reason it is not one. */
export function readConv(view: GraphView, node: Node): ConvLayer | string {
  if (node.opType !== 'Conv' || (node.domain !== '' && node.domain !== 'ai.onnx')) return `${label(node)} is not an ONNX Conv`;
  const [input = '', weight = '', bias = ''] = node.inputs;
  const output = node.outputs[0] ?? '';
  const w = view.graph.initializers.get(weight);
  if (!w) return `${label(node)}: weight '${weight}' is not an initializer (a merge needs constant weights)`;
  if (w.dims.length !== 4) return `${label(node)}: only 2-D convolutions are merged (weight has rank ${w.dims.length})`;
  if (bias && !view.graph.initializers.has(bias)) return `${label(node)}: bias '${bias}' is not an initializer`;
  const [outChannels = 0, inPerGroup = 0, kh = 0, kw = 0] = w.dims;
  const kernel = getInts(node, 'kernel_shape', [kh, kw]);
  if (kernel[0] !== kh || kernel[1] !== kw) return `${label(node)}: kernel_shape [${kernel.join(',')}] disagrees with weight dims`;
  if (getInts(node, 'dilations', [1, 1]).some((d) => d !== 1)) return `${label(node)}: dilated convolutions are not merged`;
  const strides = getInts(node, 'strides', [1, 1]);
  const group = getInt(node, 'group', 1);
  const inputShape = numericShape(view.shapes, input);
  const window = windows(node, [kh, kw], [strides[0] ?? 1, strides[1] ?? 1], inputShape, false);
  return {
    node, input, weight, ...(bias ? { bias } : {}), output, outChannels, inPerGroup, group,
    kernel: [kh, kw], strides: [strides[0] ?? 1, strides[1] ?? 1],
    ...(window ? { window } : {}), ...(inputShape ? { inputShape } : {}),
  };
}

/** A 2-D MaxPool/AveragePool without dilation, or the reason it cannot be folded into a conv. */
export function readPool(view: GraphView, node: Node): PoolLayer | string {
  const kind = node.opType === 'MaxPool' ? 'max' : node.opType === 'AveragePool' ? 'avg' : undefined;
  if (!kind) return `${label(node)} is not a pooling layer`;
  const kernel = getInts(node, 'kernel_shape');
  if (!kernel || kernel.length !== 2) return `${label(node)}: only 2-D pools are merged`;
  if (getInts(node, 'dilations', [1, 1]).some((d) => d !== 1)) return `${label(node)}: dilated pooling is not merged`;
  if (node.outputs.length > 1 && node.outputs[1]) return `${label(node)}: its Indices output is requested (merging would remove it)`;
  const strides = getInts(node, 'strides', [1, 1]);
  const ceil = getInt(node, 'ceil_mode', 0) === 1;
  const inputShape = numericShape(view.shapes, node.inputs[0] ?? '');
  const window = windows(node, [kernel[0] ?? 1, kernel[1] ?? 1], [strides[0] ?? 1, strides[1] ?? 1], inputShape, ceil);
  if (!window) return `${label(node)}: auto_pad needs the input size, which is unknown`;
  return { node, kind, window, countIncludePad: getInt(node, 'count_include_pad', 0) === 1 };
}

function windows(node: Node, kernel: [number, number], strides: [number, number], inputShape: number[] | undefined, ceil: boolean): [Window1D, Window1D] | undefined {
  const autoPad = getString(node, 'auto_pad', 'NOTSET');
  const pads = getInts(node, 'pads', [0, 0, 0, 0]);
  const axis = (a: 0 | 1): Window1D | undefined => {
    if (autoPad === 'NOTSET') {
      return { kernel: kernel[a], stride: strides[a], padBegin: pads[a] ?? 0, padEnd: pads[a + 2] ?? 0, ceil };
    }
    if (autoPad === 'VALID') return { kernel: kernel[a], stride: strides[a], padBegin: 0, padEnd: 0, ceil };
    const size = inputShape?.[a + 2];
    if (size === undefined) return undefined;
    const p = resolveAutoPad(autoPad, size, kernel[a], strides[a]);
    return p ? { kernel: kernel[a], stride: strides[a], ...p, ceil } : undefined;
  };
  const h = axis(0);
  const w = axis(1);
  return h && w ? [h, w] : undefined;
}

/** The single node reading `value`, if exactly one does. */
export function soleConsumer(view: GraphView, value: string): Node | undefined {
  const readers = view.consumers.get(value) ?? [];
  return readers.length === 1 ? readers[0] : undefined;
}

/**
 * A short block name from a node name.
 * - Caffe-style names: the part before the first '/' ('conv1/7x7_s2' -> 'conv1', 'inception_3a/output' ->
 *   'inception_3a'); names without '/' are kept whole.
 * - PyTorch exports ('/inception3a/Concat', '/features/features.3/Concat'): the module path (moduleOf).
 */
export function blockPrefix(name: string): string {
  if (name.startsWith('/')) return moduleOf(name) || name;
  const slash = name.indexOf('/');
  return slash > 0 ? name.slice(0, slash) : name;
}

/**
 * The dotted module path of a node exported by torch.onnx, or '' for other names. torch names a node
 * '/<scope>/.../<OpType>[_k]' with one scope per module call. A child of an nn.Sequential gets a scope
 * qualified by the Sequential's own name ('/inception3a/branch2/branch2.0/conv/Conv',
 * '/features/features.3/squeeze/Conv'), so a scope that extends the previous one by '.<name>' replaces it,
 * and the paths come out as torch's parameter prefixes: 'inception3a.branch2.0.conv', 'features.3.squeeze'.
 */
export function moduleOf(name: string): string {
  if (!name.startsWith('/')) return '';
  const scopes = name.split('/').slice(1, -1).filter((s) => s !== '');
  const path: string[] = [];
  for (const s of scopes) {
    const last = path[path.length - 1];
    if (last !== undefined && s.startsWith(`${last}.`)) path[path.length - 1] = s;
    else path.push(s);
  }
  return path.join('.');
}

/**
 * A node's name relative to its block, for naming the layers a merge creates: the Caffe suffix
 * ('inception_3a/3x3' -> '3x3') or the torch module path below the block ('inception3a.branch2.1.conv'
 * in block 'inception3a' -> 'branch2.1.conv'); the op type when neither applies.
 */
export function localName(node: Node, block: string): string {
  if (node.name.startsWith('/')) {
    const m = moduleOf(node.name);
    const rel = m.startsWith(`${block}.`) ? m.slice(block.length + 1) : m;
    return rel || node.opType;
  }
  const slash = node.name.indexOf('/');
  return slash > 0 ? node.name.slice(slash + 1) : node.name || node.opType;
}
