// Models exported in training mode (torch.onnx.export(..., training=TrainingMode.TRAINING), or any ONNX
// model with training-mode nodes) carry the exporter's training semantics in their nodes: BatchNormalization
// with running-statistics outputs (opset < 14: the extra outputs are what mark training; 14+: the
// training_mode attribute) and Dropout with a training_mode input and a mask output. rebirth decides the
// training semantics itself (buildTrainingGraph's `mode`, `freezeBatchNorm` and `dropoutMasks`), and a
// trained model must deploy with inference semantics (ONNX Runtime normalizes with batch statistics for a
// BatchNormalization that has training outputs), so those nodes are rewritten into their inference form:
//   BatchNormalization: outputs [Y] only, no training_mode attribute;
//   Dropout: inputs [x, ratio] only (the ratio stays: rebirth's training forward reads it), the mask output
//   dropped unless something reads it (then the inference node yields an all-true mask, per the spec).
// The saved statistics of BatchNormalization-9..13 (outputs 3 and 4) have no inference meaning, and its
// running-statistics outputs would be stale there, so a training export whose graph reads any of them is
// refused with a message rather than silently changed.
import type { Graph, Model, Node } from '../ir/graph.js';
import { findAttr, getInt, removeAttr } from '../ir/attributes.js';
import { consumers } from '../ir/topology.js';
import { RebirthError } from '../errors.js';

/** What normalizeTrainingExport rewrote. */
export interface TrainingExportReport {
  /** BatchNormalization nodes that were in training mode. */
  batchNorms: string[];
  /** Dropout nodes that carried a training_mode input or an unread mask output. */
  dropouts: string[];
}

const BN_EXTRA_OUTPUTS = ['running mean', 'running variance', 'saved mean', 'saved variance'];

function label(node: Node): string {
  return `node '${node.name || node.opType}' (${node.opType})`;
}

/** Whether a BatchNormalization node is in training mode at default-domain opset `opset`. */
export function isTrainingBatchNorm(node: Node, opset: number): boolean {
  if (opset >= 14) return getInt(node, 'training_mode', 0) === 1 || node.outputs.slice(1).some((o) => o);
  return node.outputs.slice(1).some((o) => o);
}

/**
 * Rewrite the training-mode nodes of `graph` (default-domain opset `opset`) into their inference form, in
 * place. Idempotent; a graph without training-mode nodes is left untouched. Throws a RebirthError naming the
 * node when a training-only output is read by another node or is a graph output.
 */
export function normalizeTrainingExport(graph: Graph, opset: number): TrainingExportReport {
  const report: TrainingExportReport = { batchNorms: [], dropouts: [] };
  const readers = consumers(graph);
  const graphOutputs = new Set(graph.outputs.map((v) => v.name));
  const used = (name: string): boolean => !!name && ((readers.get(name)?.length ?? 0) > 0 || graphOutputs.has(name));
  for (const node of graph.nodes) {
    if (node.domain !== '' && node.domain !== 'ai.onnx') continue;
    if (node.opType === 'BatchNormalization' && isTrainingBatchNorm(node, opset)) {
      node.outputs.slice(1).forEach((o, k) => {
        if (!used(o)) return;
        const reader = readers.get(o)?.[0];
        throw new RebirthError(`autodiff: ${label(node)} is in training mode and its ${BN_EXTRA_OUTPUTS[k] ?? 'extra'} output '${o}' is read by ${reader ? label(reader) : 'the graph outputs'}; rebirth keeps running statistics itself, so re-export the model in inference mode or remove that reader`);
      });
      node.outputs = node.outputs.slice(0, 1);
      if (findAttr(node, 'training_mode')) removeAttr(node, 'training_mode');
      report.batchNorms.push(node.name || node.outputs[0] || 'BatchNormalization');
    } else if (node.opType === 'Dropout' && opset >= 12) {
      // Dropout-12+: (data, ratio, training_mode). The training_mode input is the exporter's choice of
      // semantics; rebirth makes its own, so the inference node never reads it.
      const hadMode = !!node.inputs[2];
      const unreadMask = !!node.outputs[1] && !used(node.outputs[1]);
      if (!hadMode && !unreadMask) continue;
      node.inputs = node.inputs.slice(0, 2);
      while (node.inputs.length > 1 && node.inputs[node.inputs.length - 1] === '') node.inputs.pop();
      if (unreadMask) node.outputs = node.outputs.slice(0, 1);
      report.dropouts.push(node.name || node.outputs[0] || 'Dropout');
    }
  }
  return report;
}

/** normalizeTrainingExport on a model's main graph at the model's default-domain opset. */
export function normalizeModelTrainingExport(model: Model): TrainingExportReport {
  const o = model.opsetImports.find((i) => i.domain === '' || i.domain === 'ai.onnx');
  if (!o) throw new RebirthError('autodiff: the model imports no default-domain opset; it is not a valid ONNX model');
  return normalizeTrainingExport(model.graph, o.version);
}
