/**
 * The candidates of depth compression: for every chain (src/shrink/structure.ts), every run of units
 * u_i..u_j that can become one conv once the activations between (and inside) them are removed, and for
 * every residual block the ways of merging part of its path while keeping the block. Each candidate is
 * an *item* of a segmentation of its chain; a plan picks one segmentation per chain (src/shrink/plan.ts).
 *
 * Item kinds:
 * - 'keep': one unit as it is (a conv, or a block with its activations);
 * - 'merge': units i..j as one conv: blocks among them collapse (path merged, shortcut added in), the
 *   activations of the slots i..j-1 and inside those blocks are removed;
 * - 'block': one residual block whose path convs are grouped, each group merged into one conv, with the
 *   activations between groups kept and the Add kept;
 * - 'skip' (only with `skipBlocks`): one residual block replaced by its shortcut (the identity, or its
 *   1x1 conv), LayerMerge's layer pruning restricted to residual paths. Not exact: the path's
 *   contribution is dropped and retraining has to make up for it.
 */
import type { Graph, Node } from '../ir/graph.js';
import { RebirthError } from '../errors.js';
import {
  composeConvs, composeShapes, identityConv, identityShape, outputSize, shapeMacs, sumConvs, sumShapes, type ConvShape, type LinearConv, type PaddingMode,
} from '../rewrite/linear-conv.js';
import { convShapeOfNode, linearConvOfNode, unitName, type Activation, type BlockUnit, type Chain, type ModelStructure, type Unit } from './structure.js';

export type ItemKind = 'keep' | 'merge' | 'block' | 'skip';

export interface Item {
  /** Stable key: `<chain>:<unit>` (keep), `<chain>:<first>-<last>` (merge), `<chain>:<unit>:<groups>` (block). */
  id: string;
  chain: number;
  first: number;
  last: number;
  kind: ItemKind;
  /** 'block': groups of path-conv indices, in order. */
  groups?: number[][];
  /** Activations this item removes. */
  removed: Activation[];
  /** 'merge': the shape of the merged conv (its weights are computed only for the runs a plan keeps). */
  shape?: ConvShape;
  /** Multiply-accumulates per image before and after. */
  macsBefore: number;
  macs: number;
  /** Short description for tables. */
  label: string;
}

export interface ItemRefusal {
  chain: number;
  first: number;
  last: number;
  units: string;
  reason: string;
}

export interface CandidateOptions {
  /** How padding inside a merged run is handled (src/rewrite/linear-conv.ts). Default 'push'. */
  padding?: PaddingMode;
  /** Longest run of units merged into one conv. Default 4. */
  maxUnits?: number;
  /** Largest merged kernel extent on any axis. Default 7. */
  maxKernel?: number;
  /** Skip merges whose conv costs more than this many times the MACs of what it replaces. Default 2. */
  maxMacRatio?: number;
  /** Also offer dropping a residual block's path (item kind 'skip'). Default false. */
  skipBlocks?: boolean;
}

export interface Candidates {
  items: Item[];
  refusals: ItemRefusal[];
}

const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** Spatial size of a value (per-sample shape without channels). */
export function spatialOf(structure: ModelStructure, value: string): number[] {
  const shape = structure.shapes.get(value);
  if (!shape) throw new RebirthError(`shrink: the shape of '${value}' is unknown; give the model's input a fixed shape`);
  return shape.slice(1);
}

function macsOf(conv: Pick<LinearConv, 'cout' | 'cin' | 'group' | 'kernel' | 'dilations' | 'pads' | 'strides'>, inputSize: readonly number[]): number {
  return shapeMacs(conv) * product(outputSize(conv, inputSize));
}

/** MACs of a unit as it is. */
export function unitMacs(graph: Graph, structure: ModelStructure, u: Unit): number {
  if (u.kind === 'conv') return macsOf(convShapeOfNode(graph, u.node), spatialOf(structure, u.input));
  let total = 0;
  for (const n of [...u.path, ...(u.shortcut ? [u.shortcut] : [])]) total += macsOf(convShapeOfNode(graph, n), spatialOf(structure, n.inputs[0] ?? ''));
  return total;
}

/** Path convs `indices` of a block as one conv, or why not. */
export function mergePathGroup(graph: Graph, structure: ModelStructure, block: BlockUnit, indices: readonly number[], padding: PaddingMode): LinearConv | string {
  const first = block.path[indices[0] as number];
  if (!first) return 'empty group';
  const inputSize = spatialOf(structure, first.inputs[0] ?? '');
  let acc = linearConvOfNode(graph, first);
  for (const k of indices.slice(1)) {
    const next = composeConvs(acc, linearConvOfNode(graph, block.path[k] as Node), { padding, inputSize });
    if (typeof next === 'string') return `${block.path[k]?.name ?? ''}: ${next}`;
    acc = next;
  }
  return acc;
}

/** The shape of mergePathGroup's conv, without the arithmetic. */
export function pathGroupShape(graph: Graph, structure: ModelStructure, block: BlockUnit, indices: readonly number[], padding: PaddingMode): ConvShape | string {
  const first = block.path[indices[0] as number];
  if (!first) return 'empty group';
  const inputSize = spatialOf(structure, first.inputs[0] ?? '');
  let acc = convShapeOfNode(graph, first);
  for (const k of indices.slice(1)) {
    const next = composeShapes(acc, convShapeOfNode(graph, block.path[k] as Node), { padding, inputSize });
    if (typeof next === 'string') return `${block.path[k]?.name ?? ''}: ${next}`;
    acc = next;
  }
  return acc;
}

/** Collapsed blocks of a folded model, computed once per (model, block, padding). */
const collapsed = new WeakMap<Graph, Map<string, LinearConv | string>>();

/** A block as one conv: its whole path merged, plus the shortcut (a conv or the identity). */
export function collapseBlock(graph: Graph, structure: ModelStructure, block: BlockUnit, padding: PaddingMode): LinearConv | string {
  let cache = collapsed.get(graph);
  if (!cache) {
    cache = new Map();
    collapsed.set(graph, cache);
  }
  const key = `${block.add.name}\u0000${padding}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const path = mergePathGroup(graph, structure, block, block.path.map((_, k) => k), padding);
  let result: LinearConv | string;
  if (typeof path === 'string') {
    result = path;
  } else {
    const shortcut = block.shortcut ? linearConvOfNode(graph, block.shortcut) : identityConv(path.cin, path.kernel.length);
    const sum = sumConvs(path, shortcut, spatialOf(structure, block.input));
    result = typeof sum === 'string' ? `the shortcut cannot be added in: ${sum}` : sum;
  }
  cache.set(key, result);
  return result;
}

/** The shape of collapseBlock's conv. */
export function collapsedShape(graph: Graph, structure: ModelStructure, block: BlockUnit, padding: PaddingMode): ConvShape | string {
  const path = pathGroupShape(graph, structure, block, block.path.map((_, k) => k), padding);
  if (typeof path === 'string') return path;
  const shortcut = block.shortcut ? convShapeOfNode(graph, block.shortcut) : identityShape(path.cin, path.kernel.length);
  const sum = sumShapes(path, shortcut, spatialOf(structure, block.input));
  return typeof sum === 'string' ? `the shortcut cannot be added in: ${sum}` : sum;
}

/** The shape of the unit as one conv (a block collapsed), or why not. */
export function unitShape(graph: Graph, structure: ModelStructure, u: Unit, padding: PaddingMode): ConvShape | string {
  return u.kind === 'conv' ? convShapeOfNode(graph, u.node) : collapsedShape(graph, structure, u, padding);
}

/** Splits of 0..n-1 into contiguous groups, as group index lists. */
function compositions(n: number): number[][][] {
  const out: number[][][] = [];
  for (let mask = 0; mask < 1 << Math.max(0, n - 1); mask++) {
    const groups: number[][] = [[0]];
    for (let k = 1; k < n; k++) {
      if (mask & (1 << (k - 1))) groups.push([k]);
      else (groups[groups.length - 1] as number[]).push(k);
    }
    out.push(groups);
  }
  return out;
}

function describeConv(c: Pick<LinearConv, 'kernel' | 'strides' | 'group' | 'cin' | 'cout'>): string {
  const k = c.kernel.join('x');
  const s = c.strides.every((v) => v === 1) ? '' : ` s${c.strides.join('x')}`;
  const g = c.group === 1 ? '' : c.group === c.cin && c.group === c.cout ? ' dw' : ` g${c.group}`;
  return `${k}${g} ${c.cin}->${c.cout}${s}`;
}

/** Every item of every chain, with the runs that cannot be merged and why. */
export function enumerateCandidates(graph: Graph, structure: ModelStructure, options: CandidateOptions = {}): Candidates {
  const padding = options.padding ?? 'push';
  const maxUnits = options.maxUnits ?? 4;
  const maxKernel = options.maxKernel ?? 7;
  const maxMacRatio = options.maxMacRatio ?? 2;
  const items: Item[] = [];
  const refusals: ItemRefusal[] = [];
  structure.chains.forEach((chain: Chain, c) => {
    const macs = chain.units.map((u) => unitMacs(graph, structure, u));
    const units = chain.units;
    // Each unit's shape as one conv, computed once. Candidates are shapes only: the latency table times
    // convs of these shapes and the importance scores the linearized network, neither needs merged
    // weights, which are computed for the chosen runs alone (src/shrink/apply.ts mergeGroups).
    const shapes = units.map((u) => unitShape(graph, structure, u, padding));
    units.forEach((u, k) => {
      items.push({ id: `${c}:${k}`, chain: c, first: k, last: k, kind: 'keep', removed: [], macsBefore: macs[k] as number, macs: macs[k] as number, label: `${unitName(u)} as is` });
      if (u.kind !== 'block') return;
      if (options.skipBlocks) {
        const shortcutMacs = u.shortcut ? macsOf(convShapeOfNode(graph, u.shortcut), spatialOf(structure, u.input)) : 0;
        items.push({
          id: `${c}:${k}:skip`, chain: c, first: k, last: k, kind: 'skip', removed: u.pathSlots.filter((a): a is Activation => a !== null),
          macsBefore: macs[k] as number, macs: shortcutMacs, label: `${unitName(u)}: path dropped, ${u.shortcut ? `shortcut ${u.shortcut.name} kept` : 'identity'}`,
        });
      }
      if (u.path.length < 3) return;
      // Partial merges of a block's path, keeping the Add; the all-singletons grouping is 'keep', the
      // one-group grouping is dominated by collapsing the block.
      for (const groups of compositions(u.path.length)) {
        if (groups.length === u.path.length || groups.length === 1) continue;
        const convs: ConvShape[] = [];
        let failed: string | undefined;
        for (const g of groups) {
          const m = pathGroupShape(graph, structure, u, g, padding);
          if (typeof m === 'string') failed = m;
          else convs.push(m);
        }
        const desc = groups.map((g) => g.map((i) => u.path[i]?.name ?? '').join('+')).join(' | ');
        if (failed) {
          refusals.push({ chain: c, first: k, last: k, units: desc, reason: failed });
          continue;
        }
        const removed = groups.flatMap((g) => g.slice(0, -1).map((i) => u.pathSlots[i])).filter((a): a is Activation => a !== null && a !== undefined);
        let after = 0;
        groups.forEach((g, gi) => {
          after += macsOf(convs[gi] as ConvShape, spatialOf(structure, u.path[g[0] as number]?.inputs[0] ?? ''));
        });
        if (u.shortcut) after += macsOf(convShapeOfNode(graph, u.shortcut), spatialOf(structure, u.input));
        items.push({
          id: `${c}:${k}:${groups.map((g) => g.join('')).join('|')}`, chain: c, first: k, last: k, kind: 'block', groups, removed,
          macsBefore: macs[k] as number, macs: after, label: `${unitName(u)}: ${desc}`,
        });
      }
    });
    for (let i = 0; i < units.length; i++) {
      const inputSize = spatialOf(structure, (units[i] as Unit).input);
      let acc: ConvShape | string = shapes[i] as ConvShape | string;
      let before = macs[i] as number;
      for (let j = i; j < units.length && j - i < maxUnits; j++) {
        const u = units[j] as Unit;
        const span = units.slice(i, j + 1).map(unitName);
        const runName = span.length === 1 ? span[0] as string : `${span[0]}..${span[span.length - 1]}`;
        if (j > i) {
          before += macs[j] as number;
          if (typeof acc !== 'string') {
            const next = shapes[j] as ConvShape | string;
            acc = typeof next === 'string' ? `${unitName(u)}: ${next}` : composeShapes(acc, next, { padding, inputSize });
            if (typeof acc === 'string' && typeof next !== 'string') acc = `${unitName(u)}: ${acc}`;
          }
        }
        if (j === i && u.kind === 'conv') continue;
        if (typeof acc === 'string') {
          refusals.push({ chain: c, first: i, last: j, units: runName, reason: acc });
          break;
        }
        if (acc.kernel.some((kk) => kk > maxKernel)) {
          refusals.push({ chain: c, first: i, last: j, units: runName, reason: `the merged kernel would be ${acc.kernel.join('x')}, above the limit ${maxKernel}` });
          break;
        }
        const after = macsOf(acc, inputSize);
        if (after > maxMacRatio * before) {
          refusals.push({ chain: c, first: i, last: j, units: runName, reason: `the merged conv (${describeConv(acc)}) would cost ${(after / before).toFixed(1)}x the MACs` });
          continue;
        }
        const shape = acc;
        const removed: Activation[] = [];
        for (let k = i; k <= j; k++) {
          const unit = units[k] as Unit;
          if (unit.kind === 'block') for (const s of unit.pathSlots) if (s) removed.push(s);
          const slot = chain.slots[k];
          if (k < j && slot) removed.push(slot);
        }
        items.push({ id: `${c}:${i}-${j}`, chain: c, first: i, last: j, kind: 'merge', removed, shape, macsBefore: before, macs: after, label: `${runName} -> ${describeConv(shape)}` });
      }
    }
  });
  return { items, refusals };
}
