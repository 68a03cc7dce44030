// Raise a forward graph's nodes to the training graph's opset. The training graph needs opset >= 16
// (ScatterElements with reduction) and uses 18 (BitwiseXor); a model written for an older opset has nodes whose
// signature changed on the way (attributes that became inputs, Softmax's 2-D coercion), and those are
// rewritten here into the newer form with the same meaning. Only ops whose meaning changed are touched.
import type { Graph, Node } from '../ir/graph.js';
import { findAttr, getFloat, getInt, getInts, removeAttr } from '../ir/attributes.js';
import { DataType } from '../ir/tensor.js';
import type { GraphBuilder } from '../ir/builder.js';
import { RebirthError } from '../errors.js';
import { makeTensor } from './context.js';

/** Oldest default-domain opset whose models we convert (older ones used legacy broadcasting). */
export const OLDEST_SUPPORTED_OPSET = 7;

function label(node: Node): string {
  return `node '${node.name || node.opType}' (${node.opType})`;
}

/**
 * Rewrite `graph.nodes` (in place) from opset `from` to `to` (changes up to 18 handled; models at 18+ are
 * kept at their own opset). New constants become initializers through `b`.
 */
export function upgradeNodes(graph: Graph, from: number, to: number, b: GraphBuilder): void {
  if (from >= to) return;
  if (from < OLDEST_SUPPORTED_OPSET) {
    throw new RebirthError(`autodiff: the model uses opset ${from}; training graphs support opset ${OLDEST_SUPPORTED_OPSET}+, re-export the model with a newer opset`);
  }
  const ints = (name: string, values: readonly number[]): string => b.initializer(makeTensor(name, DataType.INT64, [values.length], values));
  const out: Node[] = [];
  const moveIntsToInput = (node: Node, attr: string, index: number): void => {
    const v = getInts(node, attr);
    removeAttr(node, attr);
    if (v === undefined) return;
    while (node.inputs.length < index) node.inputs.push('');
    node.inputs[index] = ints(`${node.name || node.opType}_${attr}`, v);
  };
  for (const node of graph.nodes) {
    if (node.domain !== '' && node.domain !== 'ai.onnx') { out.push(node); continue; }
    switch (node.opType) {
      case 'Split':
        if (from < 13) moveIntsToInput(node, 'split', 1);
        // Split-18 needs the split input or num_outputs; before, neither meant equal parts per output.
        if (from < 18 && to >= 18 && !node.inputs[1] && !findAttr(node, 'num_outputs')) {
          node.attributes.push({ name: 'num_outputs', kind: 'int', value: BigInt(node.outputs.length) });
        }
        break;
      case 'ReduceMean': case 'ReduceMax': case 'ReduceMin': case 'ReduceProd': case 'ReduceL1': case 'ReduceL2':
      case 'ReduceLogSum': case 'ReduceLogSumExp': case 'ReduceSumSquare':
        if (from < 18 && to >= 18) moveIntsToInput(node, 'axes', 1);
        break;
      case 'Squeeze':
      case 'Unsqueeze':
        if (from < 13) moveIntsToInput(node, 'axes', 1);
        break;
      case 'ReduceSum':
        if (from < 13) moveIntsToInput(node, 'axes', 1);
        break;
      case 'Slice':
        if (from < 10) {
          const starts = getInts(node, 'starts') ?? [];
          const ends = getInts(node, 'ends') ?? [];
          const axes = getInts(node, 'axes');
          for (const a of ['starts', 'ends', 'axes']) removeAttr(node, a);
          const base = node.name || 'Slice';
          node.inputs = [node.inputs[0] as string, ints(`${base}_starts`, starts), ints(`${base}_ends`, ends), ...(axes ? [ints(`${base}_axes`, axes)] : [])];
        }
        break;
      case 'Clip':
        if (from < 11) {
          const min = getFloat(node, 'min');
          const max = getFloat(node, 'max');
          removeAttr(node, 'min');
          removeAttr(node, 'max');
          const scalar = (name: string, v: number): string => b.initializer(makeTensor(name, DataType.FLOAT, [], [v]));
          node.inputs = [node.inputs[0] as string, min === undefined ? '' : scalar(`${node.name || 'Clip'}_min`, min), max === undefined ? '' : scalar(`${node.name || 'Clip'}_max`, max)];
          while (node.inputs.length > 1 && node.inputs[node.inputs.length - 1] === '') node.inputs.pop();
        }
        break;
      case 'Pad':
        if (from < 11) {
          const pads = getInts(node, 'pads') ?? [];
          const value = getFloat(node, 'value', 0);
          removeAttr(node, 'pads');
          removeAttr(node, 'value');
          node.inputs = [node.inputs[0] as string, ints(`${node.name || 'Pad'}_pads`, pads), b.initializer(makeTensor(`${node.name || 'Pad'}_value`, DataType.FLOAT, [], [value]))];
        }
        break;
      case 'Dropout':
        if (from < 12) {
          const ratio = getFloat(node, 'ratio', 0.5);
          removeAttr(node, 'ratio');
          removeAttr(node, 'is_test');
          node.inputs = [node.inputs[0] as string, b.initializer(makeTensor(`${node.name || 'Dropout'}_ratio`, DataType.FLOAT, [], [ratio]))];
        }
        break;
      case 'BatchNormalization':
        if (from < 9) {
          if (getInt(node, 'spatial', 1) !== 1) throw new RebirthError(`autodiff: ${label(node)} uses spatial=0 (per-activation statistics), which opset 9+ dropped; re-export the model`);
          removeAttr(node, 'spatial');
        }
        // Training outputs (opset < 14: running and saved statistics) were removed before the upgrade by
        // normalizeTrainingExport (training-export.ts); only omitted ('') trailing outputs can remain.
        if (from < 14) node.outputs = node.outputs.slice(0, 1);
        break;
      case 'Resize':
        if (from < 11) node.inputs = [node.inputs[0] as string, '', node.inputs[1] as string];
        break;
      case 'Upsample':
        throw new RebirthError(`autodiff: ${label(node)}: Upsample was removed in opset 10; re-export the model with Resize`);
      case 'Softmax':
      case 'LogSoftmax':
      case 'Hardmax':
        if (from < 13) {
          // Before 13 these flattened the input to 2-D at `axis` (default 1) and normalized each row.
          const axis = getInt(node, 'axis', 1);
          const y = node.outputs[0] as string;
          const x = node.inputs[0] as string;
          const base = node.name || node.opType;
          const flat = b.names.fresh(`${base}_flat`);
          const norm = b.names.fresh(`${base}_2d`);
          const shape = b.names.fresh(`${base}_shape`);
          out.push({ name: b.names.fresh(`${base}_flatten`), opType: 'Flatten', domain: '', inputs: [x], outputs: [flat], attributes: [{ name: 'axis', kind: 'int', value: BigInt(axis) }], docString: '' });
          out.push({ ...node, inputs: [flat], outputs: [norm], attributes: [{ name: 'axis', kind: 'int', value: 1n }] });
          out.push({ name: b.names.fresh(`${base}_shape`), opType: 'Shape', domain: '', inputs: [x], outputs: [shape], attributes: [], docString: '' });
          out.push({ name: b.names.fresh(`${base}_unflatten`), opType: 'Reshape', domain: '', inputs: [norm, shape], outputs: [y], attributes: [], docString: '' });
          continue;
        }
        break;
      case 'Gemm':
        if (findAttr(node, 'broadcast')) removeAttr(node, 'broadcast');
        break;
      default:
        break;
    }
    out.push(node);
  }
  graph.nodes = out;
}
