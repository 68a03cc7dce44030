/**
 * `rebirth inspect`: layer list with DeepRebirth categories, output shapes, parameters and FLOPs.
 * FLOPs are counted for batch 1 when the batch dim is symbolic (the table's rules, conventions in
 * src/ops/types.ts); a model with a fixed batch is counted at that batch.
 */
import type { Dim, Model, Node } from '../ir/graph.js';
import { dataTypeName, numel } from '../ir/tensor.js';
import { consumers } from '../ir/topology.js';
import { inferTypes, type ShapeInference } from '../shapes/infer.js';
import { RebirthError } from '../errors.js';
import { OpContext } from '../ops/context.js';
import { categoryOf, nodeInfo, OP_CATEGORIES, type OpCategory } from '../ops/table.js';
import { FLOPS_CONVENTION } from '../ops/types.js';
import { formatNumber, formatTable } from '../util/format.js';

/** A shape for reports: numbers, symbolic names, and '?' for unknown dims; null when the rank is unknown. */
export type ReportShape = (number | string)[] | null;

export interface ValueSummary {
  name: string;
  shape: ReportShape;
  /** Element type name ('float', 'int64' ...), 'unknown' when undeclared. */
  elemType: string;
}

export interface LayerSummary {
  /** The node's name; `<OpType>_<index>` for unnamed nodes (the name ONNX Runtime's profiler uses). */
  name: string;
  opType: string;
  /** '' for the default ONNX domain. */
  domain: string;
  category: OpCategory;
  /** FLOPs of one run (batch 1 for a symbolic batch); null when a needed dim is unknown or the op is not in the table. */
  flops: number | null;
  /** Elements of the node's constant weight inputs. */
  params: number;
  /** Shape of the node's first output. */
  outputShape: ReportShape;
}

export interface CategoryTotals {
  nodes: number;
  flops: number;
  params: number;
}

export interface ModelSummary {
  graphName: string;
  opset: number;
  nodes: number;
  /** Elements of all initializers read by nodes (each counted once). */
  parameters: number;
  /** Sum of the layers' known FLOPs. */
  flops: number;
  /** Layers whose FLOPs are unknown (not in the op table, or unknown dims); `flops` leaves them out. */
  layersWithUnknownFlops: number;
  opTypes: Record<string, number>;
  byCategory: Record<OpCategory, CategoryTotals>;
  inputs: ValueSummary[];
  outputs: ValueSummary[];
  layers: LayerSummary[];
  flopsConvention: string;
}

function reportShape(shape: readonly Dim[] | undefined): ReportShape {
  return shape ? shape.map((d) => (d === null ? '?' : d)) : null;
}

function elemName(elemType: number | undefined): string {
  return elemType === undefined ? 'unknown' : dataTypeName(elemType);
}

/** Display name of a node: its own, or ONNX Runtime's `<OpType>_<index>` for unnamed ones. */
export function layerName(node: Node, index: number): string {
  return node.name || `${node.opType}_${index}`;
}

/**
 * Summarise a model. Shapes are inferred leniently (ops rebirth does not know leave their outputs
 * unknown instead of failing); the model is not modified.
 */
export function inspectModel(model: Model): ModelSummary {
  const graph = model.graph;
  const shapes = inferTypes(model, { strict: false });
  // A second pass with the symbolic batch bound to 1 gives numeric dims for the FLOPs rules. A model
  // that only works at its declared batch (a Reshape with the batch baked in) falls back to the first.
  let sized: ShapeInference;
  try {
    sized = inferTypes(model, { strict: false, batch: 1 });
  } catch (e) {
    if (!(e instanceof RebirthError)) throw e;
    sized = shapes;
  }
  const env = { opset: sized.opset, type: (n: string) => sized.types.get(n), constant: (n: string) => sized.constants.get(n) };

  const opTypes: Record<string, number> = {};
  const byCategory = Object.fromEntries(OP_CATEGORIES.map((c) => [c, { nodes: 0, flops: 0, params: 0 }])) as Record<OpCategory, CategoryTotals>;
  const layers: LayerSummary[] = [];
  let flops = 0;
  let unknown = 0;
  graph.nodes.forEach((node, index) => {
    const info = nodeInfo(node);
    const category = categoryOf(node);
    let layerFlops: number | null = null;
    let params = 0;
    if (info) {
      const ctx = new OpContext(node, info, env, node.outputs.map((o) => sized.types.get(o) ?? {}));
      const f = info.flops(ctx);
      layerFlops = f === undefined || !Number.isFinite(f) ? null : f;
      params = info.params(ctx);
    }
    const key = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}.${node.opType}` : node.opType;
    opTypes[key] = (opTypes[key] ?? 0) + 1;
    const totals = byCategory[category];
    totals.nodes += 1;
    totals.params += params;
    if (layerFlops === null) unknown += 1;
    else {
      flops += layerFlops;
      totals.flops += layerFlops;
    }
    layers.push({
      name: layerName(node, index), opType: node.opType, domain: node.domain, category,
      flops: layerFlops, params, outputShape: reportShape(shapes.types.get(node.outputs[0] ?? '')?.shape),
    });
  });

  const used = consumers(graph);
  let parameters = 0;
  for (const [name, t] of graph.initializers) if (used.has(name)) parameters += numel(t.dims);

  const summarise = (name: string, declared: { elemType?: number; shape?: Dim[] } | undefined): ValueSummary => {
    const t = shapes.types.get(name);
    return { name, shape: reportShape(declared?.shape ?? t?.shape), elemType: elemName(declared?.elemType ?? t?.elemType) };
  };
  return {
    graphName: graph.name,
    opset: shapes.opset,
    nodes: graph.nodes.length,
    parameters,
    flops,
    layersWithUnknownFlops: unknown,
    opTypes,
    byCategory,
    inputs: graph.inputs.filter((v) => !graph.initializers.has(v.name)).map((v) => summarise(v.name, v)),
    outputs: graph.outputs.map((v) => summarise(v.name, v.shape ? v : { ...v, shape: shapes.types.get(v.name)?.shape })),
    layers,
    flopsConvention: FLOPS_CONVENTION,
  };
}

/** 1234567 -> "1.23M"; counts below 1000 print whole. */
export function formatCount(n: number): string {
  const units: [number, string][] = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'K']];
  for (const [scale, unit] of units) if (Math.abs(n) >= scale) return `${formatNumber(n / scale, 3)}${unit}`;
  return String(Math.round(n));
}

function shapeText(shape: ReportShape): string {
  return shape === null ? '?' : `[${shape.join(',')}]`;
}

function valueText(v: ValueSummary): string {
  return `${v.name} ${v.elemType} ${shapeText(v.shape)}`;
}

/** The summary as text: totals, inputs/outputs, per-category split, op counts, then one row per layer. */
export function formatSummary(summary: ModelSummary): string {
  const lines: string[] = [];
  const unknownNote = summary.layersWithUnknownFlops > 0 ? ` (+ ${summary.layersWithUnknownFlops} layers of unknown cost)` : '';
  lines.push(`graph '${summary.graphName}' (opset ${summary.opset}): ${summary.nodes} nodes, ${formatCount(summary.parameters)} parameters, ${formatCount(summary.flops)} FLOPs${unknownNote}`);
  lines.push(`inputs:  ${summary.inputs.map(valueText).join('; ') || '(none)'}`);
  lines.push(`outputs: ${summary.outputs.map(valueText).join('; ') || '(none)'}`);
  const share = (f: number): string => (summary.flops > 0 ? `${((100 * f) / summary.flops).toFixed(1)}%` : '-');
  lines.push(`by category: ${OP_CATEGORIES.map((c) => {
    const t = summary.byCategory[c];
    return `${c} ${t.nodes} nodes / ${share(t.flops)} FLOPs / ${formatCount(t.params)} params`;
  }).join('; ')}`);
  lines.push(`ops: ${Object.entries(summary.opTypes).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([op, n]) => `${op} ${n}`).join(', ')}`);
  lines.push(`FLOPs: ${summary.flopsConvention}`);
  lines.push('');
  const rows = summary.layers.map((l, i) => [
    String(i), l.name, l.opType, l.category, shapeText(l.outputShape),
    l.params === 0 ? '-' : formatCount(l.params),
    l.flops === null ? '?' : l.flops === 0 ? '-' : formatCount(l.flops),
    l.flops === null ? '' : share(l.flops),
  ]);
  lines.push(formatTable(['#', 'layer', 'op', 'category', 'output', 'params', 'FLOPs', 'share'], rows, {
    align: ['right', 'left', 'left', 'left', 'left', 'right', 'right', 'right'],
  }));
  return lines.join('\n');
}
