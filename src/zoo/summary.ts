/**
 * Per-layer output shapes, parameter counts and FLOPs of a zoo model, for docs/zoo.md and the tests.
 *
 * Conventions:
 * - parameters are the trainable tensors: every initializer read by Conv, ConvTranspose, Gemm or MatMul,
 *   and BatchNormalization's scale and bias (not its running mean/var, as torchvision counts them);
 * - FLOPs per image: tensor layers count 2 per multiply-add (bias adds not counted); non-tensor layers
 *   count the elementary operations of a direct implementation: Relu/Add/Sub/Div 1 per output element,
 *   BatchNormalization 2 (one multiply-add), Softmax 3 (exp, sum, divide), Max/AveragePool kernel area per
 *   output element, GlobalAveragePool 1 per input element, LRN 2*size+3 per element (the squared sum over
 *   `size` channels, then scale, power and divide); Concat, Flatten and inference Dropout 0.
 */
import type { Graph, Model, Node } from '../ir/graph.js';
import { getInt, getInts } from '../ir/attributes.js';
import { numel } from '../ir/tensor.js';
import { RebirthError } from '../errors.js';

export interface LayerRow {
  name: string;
  opType: string;
  /** Output shape without the batch dimension. */
  shape: number[];
  params: number;
  /** Multiply-adds of tensor layers; 0 for non-tensor layers. */
  macs: number;
  flops: number;
}

const TENSOR_OPS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

/** Names of the inputs of `node` that are trainable parameters. */
function parameterInputs(graph: Graph, node: Node): string[] {
  let inputs: string[] = [];
  if (TENSOR_OPS.has(node.opType)) inputs = node.inputs;
  else if (node.opType === 'BatchNormalization') inputs = node.inputs.slice(1, 3);
  return inputs.filter((i) => i !== '' && graph.initializers.has(i));
}

export function countParameters(model: Model): number {
  const graph = model.graph;
  const seen = new Set<string>();
  let total = 0;
  for (const node of graph.nodes) {
    for (const name of parameterInputs(graph, node)) {
      if (seen.has(name)) continue;
      seen.add(name);
      total += numel(graph.initializers.get(name)?.dims ?? []);
    }
  }
  return total;
}

/** One row per node, in graph order. Needs the shapes of all node outputs (build with `valueInfo: true`). */
export function summarizeLayers(model: Model): LayerRow[] {
  const graph = model.graph;
  const shapes = new Map<string, number[]>();
  for (const v of [...graph.inputs, ...graph.valueInfo, ...graph.outputs]) {
    if (v.shape && v.shape.slice(1).every((d): d is number => typeof d === 'number')) shapes.set(v.name, v.shape.slice(1) as number[]);
  }
  const shapeOf = (node: Node, value: string): number[] => {
    const shape = shapes.get(value);
    if (!shape) throw new RebirthError(`model '${graph.name}': no shape for '${value}' (node '${node.name}'): build the zoo model with valueInfo: true`);
    return shape;
  };
  return graph.nodes.map((node) => {
    const shape = shapeOf(node, node.outputs[0] ?? '');
    const outElems = numel(shape);
    const params = parameterInputs(graph, node).reduce((sum, i) => sum + numel(graph.initializers.get(i)?.dims ?? []), 0);
    let macs = 0;
    let flops = 0;
    switch (node.opType) {
      case 'Conv':
      case 'Gemm':
      case 'MatMul': {
        const weight = graph.initializers.get(node.inputs[1] ?? '');
        if (!weight) throw new RebirthError(`model '${graph.name}': node '${node.name}' has no constant weight to count`);
        // Conv: each output element sums over (in/group) x kernel; Gemm/MatMul: over the weight's reduced dim.
        const perOutput = node.opType === 'Conv' ? numel(weight.dims.slice(1)) : numel(weight.dims) / (shape[shape.length - 1] ?? 1);
        macs = outElems * perOutput;
        flops = 2 * macs;
        break;
      }
      case 'Relu': case 'Add': case 'Sub': case 'Div':
        flops = outElems;
        break;
      case 'BatchNormalization':
        flops = 2 * outElems;
        break;
      case 'Softmax':
        flops = 3 * outElems;
        break;
      case 'MaxPool': case 'AveragePool':
        flops = outElems * numel(getInts(node, 'kernel_shape') ?? []);
        break;
      case 'GlobalAveragePool':
        flops = numel(shapeOf(node, node.inputs[0] ?? ''));
        break;
      case 'LRN':
        flops = outElems * (2 * (getInt(node, 'size') ?? 0) + 3);
        break;
      default:
        flops = 0;
    }
    return { name: node.name, opType: node.opType, shape, params, macs, flops };
  });
}

export interface LayerTotals {
  params: number;
  macs: number;
  flops: number;
  /** FLOPs of the non-tensor layers (everything but Conv/Gemm/MatMul). */
  nonTensorFlops: number;
}

export function totalLayers(rows: readonly LayerRow[]): LayerTotals {
  const totals = { params: 0, macs: 0, flops: 0, nonTensorFlops: 0 };
  for (const r of rows) {
    totals.params += r.params;
    totals.macs += r.macs;
    totals.flops += r.flops;
    if (!TENSOR_OPS.has(r.opType)) totals.nonTensorFlops += r.flops;
  }
  return totals;
}

/** Markdown table with a totals row; numbers grouped by thousands so the doc reads as the test checks it. */
export function formatLayerTable(rows: readonly LayerRow[]): string {
  const n = (v: number): string => v.toLocaleString('en-US');
  const lines = [
    '| layer | op | output | params | FLOPs |',
    '|---|---|---|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${r.opType} | ${r.shape.join('x')} | ${n(r.params)} | ${n(r.flops)} |`),
  ];
  const t = totalLayers(rows);
  lines.push(`| **total** | | | **${n(t.params)}** | **${n(t.flops)}** |`);
  return lines.join('\n');
}
