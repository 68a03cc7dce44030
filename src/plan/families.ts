/**
 * Thin adapters that make each transformation family propose runtime-plan candidates
 * (candidate.ts): DeepRebirth merges (src/merge), Tucker decomposition (src/decompose) and horizontal
 * fusion (src/rewrite). Each adapter asks its family what it can do on the model at hand, builds every
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
import { fractionRanks } from '../pipeline/table3.js';
import { cloneModel, findMatches, runPasses } from '../rewrite/engine.js';
import { horizontalFusion } from '../rewrite/rules/index.js';
import { diffModels, joinPatches, patchParams, splitPatch, type GraphPatch, type PlanCandidate, type PreparedCandidate } from './candidate.js';

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

export function buildFusion(model: Model, node: string): Model {
  const trial = cloneModel(model);
  runPasses(trial, [horizontalFusion], { maxSteps: 1, only: (n) => n.outputs[0] === node });
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
    const candidate: PlanCandidate = {
      name: `fusion:${id}`, family: 'horizontal-fusion', site: `fusion:${id}`, variant: 'exact', nodes: [...patch.removedNames],
      exactness: 'exact', retrainParams: 0, severity: 0,
      description: `${patch.removedNames.length} sibling convs reading '${node.inputs[0] ?? ''}' -> one Conv + Split (${patch.removedNames.join(', ')})`,
      recipe: { family: 'fusion', rule: horizontalFusion.name, node: key },
      build: (target) => Promise.resolve(buildFusion(target, key)),
    };
    candidates.push({ candidate, patch });
  }
  return { candidates, refused };
}
