/**
 * Thin adapters that make each transformation family propose runtime-plan candidates
 * (candidate.ts): DeepRebirth merges (src/merge), depth compression (src/shrink), Tucker decomposition
 * (src/decompose) and horizontal fusion (src/rewrite). Each adapter asks its family what it can do on the model at hand, builds every
 * alternative once to get its patch, and says how to build it again (the recipe); it never measures.
 */
import type { Model } from '../ir/graph.js';
import type { FasterDecision } from '../runtime/decide.js';
import { RebirthError, errorMessage, firstLine } from '../errors.js';
import { applyMerges, planMerges, type CandidateOverrides, type MergeOptions } from '../merge/plan.js';
import type { KernelMode } from '../merge/streamline.js';
import type { BranchLayout } from '../merge/branch.js';
import type { InitMethod } from '../merge/init.js';
import { blockPrefix } from '../merge/layers.js';
import { tuckerDecompose, type TuckerRankRule } from '../decompose/tucker.js';
import type { LayerRanks } from '../decompose/ranks.js';
import { fractionRanks } from '../decompose/ranks.js';
import { cloneModel, findMatches, runPasses } from '../rewrite/engine.js';
import { horizontalFusion } from '../rewrite/rules/index.js';
import { prepareShrink, type PreparedShrink } from '../shrink/shrink.js';
import { planSegments } from '../shrink/plan.js';
import { linearize, mergeGroups } from '../shrink/apply.js';
import { analyzeStructure, unitName, type ModelStructure, type Unit } from '../shrink/structure.js';
import type { CandidateOptions, Item } from '../shrink/candidates.js';
import type { Calibration, ImportanceLoss } from '../shrink/importance.js';
import type { PaddingMode } from '../rewrite/linear-conv.js';
import {
  diffModels, joinPatches, patchParams, splitPatch, type GraphPatch, type PlanCandidate, type PreparedCandidate, type ShrinkRecipeItem,
} from './candidate.js';

export interface Refused {
  site: string;
  variant?: string;
  reason: string;
}

export interface Proposal {
  candidates: PreparedCandidate[];
  refused: Refused[];
}

// ---------------------------------------------------------------------------------------------------
// DeepRebirth merges

export interface MergeFamilyOptions {
  streamline?: boolean;
  branch?: boolean;
  fire?: boolean;
  /** Streamline kernel modes to try per block (default both: 'cover', then 'keep'). */
  kernels?: readonly KernelMode[];
  /** Branch reducer widths to try per module (default 0.5, the paper's, then 0.25). */
  reducerRatios?: readonly number[];
  reducer5Ratio?: number;
  layout?: BranchLayout;
  /** Initial weights of rebirth layers in the planned model (default 'inherit': the plan's model runs as is). */
  init?: InitMethod;
  seed?: number;
  /** Only these merge candidates (names as planMerges reports them). */
  only?: readonly string[];
}

export const DEFAULT_KERNELS: readonly KernelMode[] = ['cover', 'keep'];
export const DEFAULT_REDUCER_RATIOS: readonly number[] = [0.5, 0.25];

function mergeBase(o: MergeFamilyOptions): MergeOptions {
  return {
    streamline: o.streamline ?? true, branch: o.branch ?? true, fire: o.fire ?? true, fold: false,
    init: o.init ?? 'inherit', seed: o.seed ?? 0,
    ...(o.layout !== undefined ? { layout: o.layout } : {}), ...(o.reducer5Ratio !== undefined ? { reducer5Ratio: o.reducer5Ratio } : {}),
  };
}

/** Builds one merge with its own options on `model` (recipe of a merge candidate). */
export function buildMerge(model: Model, name: string, overrides: CandidateOverrides, options: MergeFamilyOptions = {}): Model {
  return applyMerges(model, { ...mergeBase(options), only: [name], perCandidate: { [name]: overrides } }).model;
}

/**
 * Every streamline, branch and Fire merge of `model` (already folded), one candidate per kernel mode or
 * reducer width. Severity: 'cover' before 'keep' (the covering kernel spans the block's whole receptive
 * field, 'keep' a centred part of it); wider reducers before thinner ones.
 */
export function proposeMerges(model: Model, options: MergeFamilyOptions = {}): Proposal {
  const base = mergeBase(options);
  const plan = planMerges(model, base);
  const refused: Refused[] = plan.refused.map((r) => ({ site: r.name, reason: r.reason }));
  const candidates: PreparedCandidate[] = [];
  const kernels = options.kernels ?? DEFAULT_KERNELS;
  const ratios = [...(options.reducerRatios ?? DEFAULT_REDUCER_RATIOS)].sort((a, b) => b - a);
  for (const r of ratios) if (!(r > 0 && r <= 1)) throw new RebirthError(`reducer ratio ${r} must be in (0, 1]`);
  const only = options.only ? new Set(options.only) : undefined;
  for (const c of plan.candidates) {
    if (only && !only.has(c.name)) continue;
    const variants: Array<{ label: string; overrides: CandidateOverrides }> =
      c.kind === 'streamline' ? kernels.map((k) => ({ label: k, overrides: { kernel: k } }))
        : c.kind === 'branch' ? ratios.map((r) => ({ label: `reducer ${r}`, overrides: { reducerRatio: r } }))
          : [{ label: 'exact', overrides: {} }];
    variants.forEach((v, severity) => {
      let merged;
      try {
        merged = applyMerges(model, { ...base, only: [c.name], perCandidate: { [c.name]: v.overrides } });
      } catch (e) {
        const why = planMerges(model, { ...base, perCandidate: { [c.name]: v.overrides } }).refused.find((x) => x.name === c.name)?.reason;
        refused.push({ site: c.name, variant: v.label, reason: why ?? firstLine(errorMessage(e)) });
        return;
      }
      const m = merged.merges[0];
      if (!m) return;
      const patch = diffModels(model, merged.model);
      const exact = m.exact;
      const candidate: PlanCandidate = {
        name: c.kind === 'fire' ? c.name : `${c.name}@${c.kind === 'streamline' ? v.label : `r${v.overrides.reducerRatio}`}`,
        family: c.kind, site: c.name, variant: v.label, nodes: [...m.layers], exactness: exact ? 'exact' : 'approximate',
        retrainParams: exact ? 0 : patchParams(patch), severity, description: m.description,
        recipe: { family: 'merge', merge: c.name, options: v.overrides },
        build: (target) => Promise.resolve(buildMerge(target, c.name, v.overrides, options)),
      };
      candidates.push({ candidate, patch });
    });
  }
  return { candidates, refused };
}

// ---------------------------------------------------------------------------------------------------
// Depth compression (src/shrink)

export interface ShrinkFamilyOptions extends Pick<CandidateOptions, 'padding' | 'maxUnits' | 'maxKernel' | 'maxMacRatio' | 'skipBlocks'> {
  /**
   * Speed-ups of the chains' summed cost the dynamic program is solved for, one plan each (default 1.2,
   * 1.4, 1.6): the plans at increasing severity the sites' alternatives are cut from.
   */
  speedups?: readonly number[];
  /** Importance loss and calibration images (default: 'kl' on 4 seeded random inputs, as prepareShrink). */
  importance?: ImportanceLoss;
  calibration?: Calibration;
  threads?: number;
  /**
   * What the program weighs each item by (item id -> cost, any additive unit). Default: its
   * multiply-accumulates. plan.ts passes the target's latency table on node and wasm (docs/shrink.md,
   * section 3): MACs never favour a merge that adds MACs but removes layers, which is where a
   * ResNet's collapsed blocks gain on an overhead-bound runtime.
   */
  itemCost?: (prepared: PreparedShrink) => Promise<ReadonlyMap<string, number>>;
}

export const DEFAULT_SHRINK_SPEEDUPS: readonly number[] = [1.2, 1.4, 1.6];

function recipeItem(structure: ModelStructure, item: Item): ShrinkRecipeItem {
  const units = structure.chains[item.chain]?.units ?? [];
  const name = (k: number): string => {
    const u = units[k];
    if (!u) throw new RebirthError(`internal error: shrink item ${item.id} names no unit`);
    return unitName(u);
  };
  if (item.kind === 'keep') throw new RebirthError(`internal error: a recipe holds changed items only, got ${item.id}`);
  return { kind: item.kind, from: name(item.first), to: name(item.last), ...(item.groups ? { groups: item.groups.map((g) => [...g]) } : {}) };
}

/** The recipe's items as items of `structure`, found by unit names (what linearize needs of an item). */
export function resolveShrinkItems(structure: ModelStructure, items: readonly ShrinkRecipeItem[]): Item[] {
  const where = new Map<string, { chain: number; unit: number }>();
  structure.chains.forEach((c, chain) => c.units.forEach((u, unit) => where.set(unitName(u), { chain, unit })));
  return items.map((r) => {
    const a = where.get(r.from);
    const b = where.get(r.to);
    if (!a || !b || a.chain !== b.chain || b.unit < a.unit || (r.kind !== 'merge' && a.unit !== b.unit)) {
      throw new RebirthError(`shrink: no chain of this model runs from '${r.from}' to '${r.to}' as a ${r.kind}; the plan was made for another model (or other merge options): plan again`);
    }
    const id = r.kind === 'merge' ? `${a.chain}:${a.unit}-${b.unit}` : r.kind === 'skip' ? `${a.chain}:${a.unit}:skip` : `${a.chain}:${a.unit}:${(r.groups ?? []).map((g) => g.join('')).join('|')}`;
    return {
      id, chain: a.chain, first: a.unit, last: b.unit, kind: r.kind, ...(r.groups ? { groups: r.groups.map((g) => [...g]) } : {}),
      removed: [], macsBefore: 0, macs: 0, label: `${r.from}..${r.to}`,
    };
  });
}

function uniquelyNamed(model: Model): boolean {
  const names = model.graph.nodes.map((n) => n.name);
  return names.every((n) => n !== '') && new Set(names).size === names.length;
}

/**
 * The merged network for these items, built on `model` as it is (folded, nodes uniquely named; no
 * fold here): activations removed and padding moved (linearize), then each run merged into one conv
 * (mergeGroups), as buildShrunk does for a plan. On retrained weights this is the final exact merge.
 */
export function buildShrink(model: Model, items: readonly ShrinkRecipeItem[], padding: PaddingMode = 'push'): Model {
  if (!uniquelyNamed(model)) throw new RebirthError('shrink: every node needs a unique name (the recipe names units by their nodes)');
  const structure = analyzeStructure(model);
  const linearized = linearize(model, structure, resolveShrinkItems(structure, items), padding);
  return mergeGroups(linearized.model, linearized.groups);
}

/**
 * Depth-compression candidates on `model` (the model at hand: folded, after the merge stage).
 *
 * The shrink machinery plans whole networks: one segmentation of every chain, chosen by a dynamic
 * program under one budget. A plan candidate has to be smaller than that, so the search can keep the
 * parts that pay on the target and leave the rest. Sites: the program is solved at each speed-up in
 * `speedups`, and each chain is cut at the unit boundaries that every one of those plans keeps (no item
 * of any plan spans them). Between two such cuts the plans differ only in how they segment that piece,
 * so the piece is a site and each distinct segmentation of it that changes something is an
 * alternative. Alternatives at one site overlap (they remove the same activations); pieces replace
 * disjoint nodes (items never cross a cut, and a run's merge touches only its own convs, the
 * activations between them and its blocks), so their patches compose, as candidate.ts requires.
 *
 * Severity: the alternative's summed importance (the loss increase of its items on calibration data,
 * untrained), least first: how far it moves the function, which is what the retraining must recover.
 * Exactness 'approximate'; retrainParams: the merged convs' parameters (the patch's new initializers).
 * The expensive part (folding check, importance: one forward pass per item) runs once here; each
 * alternative's network is built once for its patch, and its recipe (the items by unit names and the
 * padding mode) rebuilds it with buildShrink.
 */
export async function proposeShrink(model: Model, options: ShrinkFamilyOptions = {}): Promise<Proposal> {
  const speedups = [...(options.speedups ?? DEFAULT_SHRINK_SPEEDUPS)].sort((a, b) => a - b);
  if (speedups.length === 0) throw new RebirthError('shrink: give at least one speed-up to plan for');
  for (const s of speedups) if (!(Number.isFinite(s) && s > 1)) throw new RebirthError(`shrink speed-up ${s} must be a number > 1`);
  // Unique names first: foldForShrink would name nameless nodes, and that renaming would show up in
  // every candidate's patch, making them all conflict.
  if (!uniquelyNamed(model)) return { candidates: [], refused: [{ site: 'shrink', reason: 'every node needs a unique name (shrink refers to units by their nodes)' }] };
  let prepared: PreparedShrink;
  try {
    prepared = await prepareShrink(model, {
      ...(options.padding ? { padding: options.padding } : {}), ...(options.maxUnits !== undefined ? { maxUnits: options.maxUnits } : {}),
      ...(options.maxKernel !== undefined ? { maxKernel: options.maxKernel } : {}), ...(options.maxMacRatio !== undefined ? { maxMacRatio: options.maxMacRatio } : {}),
      ...(options.skipBlocks ? { skipBlocks: true } : {}), ...(options.importance ? { importance: options.importance } : {}),
      ...(options.calibration ? { calibration: options.calibration } : {}), ...(options.threads !== undefined ? { threads: options.threads } : {}),
    });
  } catch (e) {
    // A model without chains, or without a known input shape: nothing to propose, said why.
    if (e instanceof RebirthError) return { candidates: [], refused: [{ site: 'shrink', reason: firstLine(errorMessage(e)).replace(/^shrink: /, '') }] };
    throw e;
  }
  const { folded, structure, candidates: { items }, importance, padding } = prepared;
  // Patches are diffs against `model`: the folds shrink would make must already be made (the planner
  // folds first with the same rules), or every patch would carry them.
  const folds = diffModels(model, folded);
  if (folds.removed.length > 0 || folds.added.length > 0) {
    return { candidates: [], refused: [{ site: 'shrink', reason: `the model has foldable nodes left (${folds.removedNames.slice(0, 3).join(', ')}); plan with the exact folds on` }] };
  }
  const cost = options.itemCost ? await options.itemCost(prepared) : new Map(items.map((i) => [i.id, i.macs]));
  const keepTotal = items.filter((i) => i.kind === 'keep').reduce((s, i) => s + (cost.get(i.id) ?? 0), 0);
  const plans = speedups.map((speedup) => ({
    speedup, items: planSegments({ structure, items, latency: cost, importance: importance.delta, budgetMs: keepTotal / speedup }).items,
  }));
  const candidates: PreparedCandidate[] = [];
  structure.chains.forEach((chain, ci) => {
    const n = chain.units.length;
    const perPlan = plans.map((p) => ({ speedup: p.speedup, items: p.items.filter((i) => i.chain === ci && i.kind !== 'keep') }));
    // cut[p]: no item of any plan spans units p-1 and p.
    const cut = new Array<boolean>(n).fill(true);
    for (const p of perPlan) for (const it of p.items) for (let k = it.first + 1; k <= it.last; k++) cut[k] = false;
    let start = 0;
    for (let end = 0; end < n; end++) {
      if (end + 1 < n && !cut[end + 1]) continue;
      const [a, b] = [start, end];
      start = end + 1;
      const alternatives = new Map<string, { speedup: number; items: Item[]; importance: number; saving: number }>();
      for (const p of perPlan) {
        const its = p.items.filter((i) => i.first >= a && i.last <= b);
        const key = its.map((i) => i.id).join(' ');
        if (its.length === 0 || alternatives.has(key)) continue;
        // What the program predicts this piece saves: the kept units' cost minus the items'.
        let saving = 0;
        for (const it of its) {
          for (let k = it.first; k <= it.last; k++) saving += cost.get(`${ci}:${k}`) ?? 0; // the keep item of unit k
          saving -= cost.get(it.id) ?? 0;
        }
        // A piece the program made slower to save elsewhere is not a change of its own.
        if (!(saving > 0)) continue;
        alternatives.set(key, { speedup: p.speedup, items: its, importance: its.reduce((s, i) => s + (importance.delta.get(i.id) ?? 0), 0), saving });
      }
      if (alternatives.size === 0) continue;
      const alts = [...alternatives.values()].sort((x, y) => x.importance - y.importance || x.saving - y.saving);
      const lo = Math.min(...alts.flatMap((x) => x.items.map((i) => i.first)));
      const hi = Math.max(...alts.flatMap((x) => x.items.map((i) => i.last)));
      const unit = (k: number): string => unitName(chain.units[k] as Unit);
      const site = `shrink:${unit(lo)}${hi > lo ? `..${unit(hi)}` : ''}`;
      alts.forEach((alt, severity) => {
        const linearized = linearize(folded, structure, alt.items, padding);
        const patch = diffModels(model, mergeGroups(linearized.model, linearized.groups));
        const recipeItems = alt.items.map((i) => recipeItem(structure, i));
        const macsBefore = alt.items.reduce((s, i) => s + i.macsBefore, 0);
        const macsAfter = alt.items.reduce((s, i) => s + i.macs, 0);
        const candidate: PlanCandidate = {
          name: `${site}@${alt.speedup}x`, family: 'shrink', site, variant: `plan at ${alt.speedup}x`, nodes: [...patch.removedNames],
          exactness: 'approximate', retrainParams: patchParams(patch), severity,
          description: `${alt.items.map((i) => i.label).join('; ')}: ${linearized.removed.length} activation(s) removed, ` +
            `MACs ${(macsBefore / 1e6).toFixed(2)}M -> ${(macsAfter / 1e6).toFixed(2)}M, ${importance.loss} loss +${alt.importance.toFixed(4)} untrained`,
          recipe: { family: 'shrink', items: recipeItems, padding },
          build: (target) => Promise.resolve(buildShrink(target, recipeItems, padding)),
        };
        candidates.push({ candidate, patch });
      });
    }
  });
  // The runs enumerateCandidates refused (kernel or MAC limits) are not listed: they are not sites of
  // the plan, and `rebirth shrink --explain` lists them.
  const refused: Refused[] = candidates.length > 0 ? [] : [{
    site: 'shrink', reason: `no plan of the dynamic program at ${speedups.join('x, ')}x changes a chain at a lower ${options.itemCost ? 'cost' : 'count of multiply-accumulates'}`,
  }];
  return { candidates, refused };
}

// ---------------------------------------------------------------------------------------------------
// Tucker decomposition

export interface TuckerFamilyOptions {
  /**
   * Rank alternatives: `{ fractions }` keeps each fraction of every conv's channels in both modes
   * (fractionRanks, rounded to `multiple`, default 8), one alternative per fraction; any rank rule of
   * tuckerDecompose (vbmf, energy, a file, explicit) gives one alternative. Default fractions 1/2, 1/4.
   */
  ranks?: TuckerRankRule | { fractions: readonly number[]; multiple?: number };
  only?: string[];
  hooi?: number;
  /**
   * 'block' (default): the layers of one block (Inception module, streamline block) at one rank choice
   * are one candidate; 'layer': every layer is its own. In context a single layer moves the whole
   * model's time by ~1%, which 10-30 paired rounds on a shared machine cannot tell from noise; a block
   * moves it by 3-10% (docs/planner.md).
   */
  granularity?: 'block' | 'layer';
  /**
   * Screen each decomposed layer alone first (tuckerDecompose's per-layer decision, on the target): a
   * layer that is slower by itself (a square 1x1 at half rank saves no FLOPs) never enters a block.
   */
  screen?: (before: Model, after: Model, inputShape: number[]) => Promise<FasterDecision>;
}

export const DEFAULT_TUCKER_FRACTIONS: readonly number[] = [0.5, 0.25];

function isFractions(r: TuckerFamilyOptions['ranks']): r is { fractions: readonly number[]; multiple?: number } {
  return typeof r === 'object' && r !== null && 'fractions' in r && Array.isArray((r as { fractions: unknown }).fractions);
}

/** The block a layer belongs to: the Caffe prefix, or a torch export's top module ('features.3' for a Sequential child). */
export function blockOf(layer: string): string {
  const prefix = blockPrefix(layer);
  if (!layer.startsWith('/')) return prefix;
  const parts = prefix.split('.');
  return /^\d+$/.test(parts[1] ?? '') ? parts.slice(0, 2).join('.') : (parts[0] ?? prefix);
}

function fractionLabel(f: number): string {
  for (const d of [2, 3, 4, 8, 16]) {
    const n = Math.round(f * d);
    if (Math.abs(n / d - f) < 1e-9) return `${n}/${d}`;
  }
  return String(f);
}

function ruleLabel(rule: TuckerRankRule): string {
  if (rule === 'vbmf') return 'vbmf';
  if ('energy' in rule && typeof rule.energy === 'number') return `energy ${rule.energy}`;
  if ('latency' in rule && typeof rule.latency === 'number') return `latency ${rule.latency}`;
  if ('file' in rule && typeof rule.file === 'string') return `ranks file ${rule.file}`;
  return 'explicit ranks';
}

export async function buildTucker(model: Model, ranks: Record<string, LayerRanks>, hooi = 0): Promise<Model> {
  return (await tuckerDecompose(model, { ranks, measure: false, hooi })).model;
}

/** Per block (or layer) and rank alternative, the decomposition of its convs as one candidate. */
export async function proposeTucker(model: Model, options: TuckerFamilyOptions = {}): Promise<Proposal> {
  const spec = options.ranks ?? { fractions: DEFAULT_TUCKER_FRACTIONS };
  const alternatives: Array<{ label: string; rule: TuckerRankRule }> = [];
  if (isFractions(spec)) {
    const multiple = spec.multiple ?? 8;
    for (const f of [...spec.fractions].sort((a, b) => b - a)) {
      if (!(f > 0 && f < 1)) throw new RebirthError(`Tucker rank fraction ${f} must be in (0, 1)`);
      let record = fractionRanks(model, f, multiple);
      if (options.only) record = Object.fromEntries(Object.entries(record).filter(([k]) => options.only?.includes(k)));
      alternatives.push({ label: `ranks ${fractionLabel(f)}`, rule: record });
    }
  } else {
    alternatives.push({ label: ruleLabel(spec), rule: spec });
  }
  const candidates: PreparedCandidate[] = [];
  const refused: Refused[] = [];
  const hooi = options.hooi ?? 0;
  const granularity = options.granularity ?? 'block';
  for (const [severity, alt] of alternatives.entries()) {
    if (typeof alt.rule === 'object' && !('file' in alt.rule) && Object.keys(alt.rule).length === 0) continue;
    const r = await tuckerDecompose(model, {
      ranks: alt.rule, hooi, measure: options.screen !== undefined,
      ...(options.screen ? { decideLayer: options.screen } : {}), ...(options.only ? { only: options.only } : {}),
    });
    const done = r.layers.filter((l) => l.decomposed);
    for (const l of r.layers) {
      if (!l.decomposed && l.method !== 'none' && l.reason) refused.push({ site: granularity === 'block' ? `tucker:${blockOf(l.name)}` : `tucker:${l.name}`, variant: `${alt.label}: ${l.name}`, reason: l.reason });
    }
    if (done.length === 0) continue;
    const patch = diffModels(model, r.model);
    const perLayer = splitPatch(model, patch, done.map((l) => [l.name]));
    const groups = new Map<string, Array<{ layer: (typeof done)[number]; patch: GraphPatch }>>();
    done.forEach((layer, i) => {
      const key = granularity === 'block' ? blockOf(layer.name) : layer.name;
      const g = groups.get(key) ?? [];
      g.push({ layer, patch: perLayer[i] as GraphPatch });
      groups.set(key, g);
    });
    for (const [key, members] of groups) {
      const ranks: Record<string, LayerRanks> = Object.fromEntries(members.map((m) => [m.layer.name, [m.layer.ranks[0], m.layer.ranks[1]]]));
      const joined = joinPatches(members.map((m) => m.patch));
      const flopsBefore = members.reduce((a, m) => a + m.layer.flopsBefore, 0);
      const flopsAfter = members.reduce((a, m) => a + m.layer.flopsAfter, 0);
      const worst = Math.max(...members.map((m) => m.layer.relError));
      const what = members.length === 1
        ? `${members[0]?.layer.name} ${members[0]?.layer.method} ranks [${members[0]?.layer.ranks.join(', ')}]`
        : `${members.length} layers (${members.map((m) => `${m.layer.name} [${m.layer.ranks.join(', ')}]`).join(', ')})`;
      const candidate: PlanCandidate = {
        name: `tucker:${key}@${alt.label.replace(/^ranks /, '')}`, family: 'tucker', site: `tucker:${key}`, variant: alt.label,
        nodes: members.map((m) => m.layer.name), exactness: 'approximate', retrainParams: patchParams(joined), severity,
        description: `${what}: FLOPs ${(flopsBefore / 1e6).toFixed(1)}M -> ${(flopsAfter / 1e6).toFixed(1)}M, weight rel. error up to ${worst.toFixed(3)}`,
        recipe: { family: 'tucker', ranks },
        build: (target) => buildTucker(target, ranks, hooi),
      };
      candidates.push({ candidate, patch: joined });
    }
  }
  return { candidates, refused };
}

// ---------------------------------------------------------------------------------------------------
// Horizontal fusion (exact)

export function buildFusion(model: Model, members: string | readonly string[]): Model {
  const keys = new Set(typeof members === 'string' ? [members] : members);
  const trial = cloneModel(model);
  runPasses(trial, [horizontalFusion], { maxSteps: 1, only: (n) => keys.has(n.outputs[0] ?? '') });
  return trial;
}

/** Every group of sibling convs horizontal fusion would fuse, one exact candidate each. */
export function proposeFusions(model: Model): Proposal {
  const { matches, refusals } = findMatches(model, horizontalFusion);
  const refused: Refused[] = refusals.map((r) => ({ site: `fusion:${r.node}`, reason: r.reason }));
  const candidates: PreparedCandidate[] = [];
  for (const { node, id } of matches) {
    const key = node.outputs[0] ?? '';
    const fused = buildFusion(model, key);
    const patch = diffModels(model, fused);
    if (patch.removed.length === 0) continue;
    const removed = new Set(patch.removedNames);
    const members = model.graph.nodes.filter((n) => removed.has(n.name) && n.opType === 'Conv').map((n) => n.outputs[0] ?? '');
    const candidate: PlanCandidate = {
      name: `fusion:${id}`, family: 'horizontal-fusion', site: `fusion:${id}`, variant: 'exact', nodes: [...patch.removedNames],
      exactness: 'exact', retrainParams: 0, severity: 0,
      description: `${patch.removedNames.length} sibling convs reading '${node.inputs[0] ?? ''}' -> one Conv + Split (${patch.removedNames.join(', ')})`,
      recipe: { family: 'fusion', rule: horizontalFusion.name, node: key, members },
      build: (target) => Promise.resolve(buildFusion(target, members)),
    };
    candidates.push({ candidate, patch });
  }
  return { candidates, refused };
}
