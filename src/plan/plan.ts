/**
 * Runtime-aware plans (issue 13): which merges, depth compressions, Tucker ranks and fusions pay on one
 * target runtime, on this machine, for this model, measured there in context and chosen by a stepwise
 * search (search.ts).
 *
 * Stages run in the order given ('merge', 'shrink', 'tucker', 'fusion' as PLAN_FAMILIES lists them),
 * each proposing on the model the earlier stages produced, because what a family can do depends on what
 * is already done (shrink merges the conv chains the merges left; Tucker decomposes the merged model's
 * rebirth convs and shrink's merged convs; fusion fuses the reducers a branch merge left side by side).
 * Horizontal fusion is proposed last although it is exact: fusing an Inception module's 1x1 convs first
 * would hide the branches the merges need (docs/deeprebirth.md, section 0). Exact folds (BatchNorm,
 * Scale, Pad, identities) come before everything, verified on ONNX Runtime, as in `rebirth merge`.
 */
import type { Model } from '../ir/graph.js';
import { encodeModel } from '../onnx/encode.js';
import { RebirthError } from '../errors.js';
import type { DecideOptions, FasterDecision } from '../runtime/decide.js';
import type { HostTensor } from '../runtime/session.js';
import type { BrowserLaunchOptions } from '../runtime/browser.js';
import { foldForMerge, type FoldReport } from '../merge/fold.js';
import type { CandidateOverrides, MergeOptions } from '../merge/plan.js';
import type { LayerRanks } from '../decompose/ranks.js';
import type { CandidateRecipe, ShrinkRecipeItem } from './candidate.js';
import {
  buildFusion, buildShrink, buildTucker, proposeFusions, proposeMerges, proposeShrink, proposeTucker,
  type MergeFamilyOptions, type Proposal, type Refused, type ShrinkFamilyOptions, type TuckerFamilyOptions,
} from './families.js';
import { PlanSearch, type Budget, type CandidateOutcome, type MeasureFn, type Measurement, type PlanPoint } from './search.js';
import { machineId, planTarget, type TargetSession } from './targets.js';
import { canonicalJson, defaultPlanCacheDir, hashBytes, readCachedPlan, writeCachedPlan, type PlanKey } from './cache.js';
import { applyMerges } from '../merge/plan.js';
import { measureLatencyTable } from '../shrink/latency.js';
import type { PaddingMode } from '../rewrite/linear-conv.js';

export type PlanFamily = 'merge' | 'shrink' | 'tucker' | 'fusion';
/**
 * Every family, in the order stages are best run when several are asked for: merges first (they need
 * the Inception branches and LRN blocks intact), shrink on the merged model's chains, Tucker on the
 * convs both left or made, fusion last (the file comment says why).
 */
export const PLAN_FAMILIES: readonly PlanFamily[] = ['merge', 'shrink', 'tucker', 'fusion'];

/** The shrink stage's options as a plan takes them: JSON, since they are part of the cache key. */
export type ShrinkStageOptions = Omit<ShrinkFamilyOptions, 'itemCost' | 'calibration'> & {
  /**
   * What the dynamic program weighs items by: 'table', the items timed stand-alone on the target
   * (src/shrink/latency.ts; node and wasm only), or 'macs'. Default 'table' on node and wasm, 'macs'
   * on other targets and with an injected `measure` (a fake timer has no runtime to time items on).
   */
  cost?: 'macs' | 'table';
  /** Timed rounds per item for the table (default 10). */
  runs?: number;
};

/**
 * Smallest whole-model gain a plan keeps a change for: 1%, not decideFaster's 3%. The 3% is per
 * comparison of two whole models for one change; a plan makes tens of changes whose gains add up, and
 * a Tucker block or a fusion is often 1-3% of GoogLeNet's time. The interval must still clear a third of it.
 */
export const PLAN_MIN_GAIN = 0.01;

export interface RuntimePlanOptions {
  /** A registered target: 'node', 'wasm', 'browser' (src/plan/targets.ts). */
  target: string;
  /** Stages, in order (default ['merge', 'fusion']; PLAN_FAMILIES is the order to use for several). */
  families?: readonly PlanFamily[];
  merge?: MergeFamilyOptions;
  /** Depth-compression alternatives (src/shrink; docs/shrink.md, "In one plan with merge and tucker"). */
  shrink?: ShrinkStageOptions;
  /** Tucker alternatives; `screen` (default true) decides each layer alone on the target first. */
  tucker?: Omit<TuckerFamilyOptions, 'screen'> & { screen?: boolean };
  /** Stop once reached; changes are tried exact first, then fewest parameters to retrain. */
  budget?: Budget;
  /** The decision rule's options (minGain defaults to PLAN_MIN_GAIN). */
  decide?: DecideOptions;
  threads?: number;
  feeds?: Record<string, HostTensor>;
  browser?: BrowserLaunchOptions;
  /** Exact folds first, verified on ONNX Runtime (default true). */
  fold?: boolean;
  /** Forward passes (default 2). */
  passes?: number;
  /** Plan cache: false for none; `read: false` plans afresh and replaces the cached plan. */
  cache?: false | { dir?: string; read?: boolean };
  /** Replaces the target's measurement (tests: a fake timer); the cache key then says 'injected'. */
  measure?: MeasureFn;
  /** Measure the finished plan against the original once more for the report (default true). */
  confirm?: boolean;
  log?: (line: string) => void;
}

export interface StageReport {
  family: PlanFamily;
  candidates: CandidateOutcome[];
  /** What the family could not propose, with its reasons. */
  refused: Refused[];
}

export interface KeptChange {
  name: string;
  family: string;
  stage: PlanFamily;
  exactness: 'exact' | 'approximate';
  retrainParams: number;
  recipe: CandidateRecipe;
}

/** A plan as JSON (what the cache holds and `--json` prints), without the model. */
export interface RuntimePlanReport {
  target: string;
  runtime: string;
  machine: string;
  modelHash: string;
  folds: FoldReport[];
  stages: StageReport[];
  /** Kept changes in the order applied. */
  kept: KeptChange[];
  budget?: Budget & { reached: boolean; checks: Measurement[] };
  /** The finished plan against the original (absent when nothing was kept or confirm is off). */
  summary?: Measurement;
  /** Product of the kept changes' in-context ratios (or the last budget measurement). */
  speedupEstimate: number;
  /** Whole-model and single-layer decisions made, and the time spent measuring. */
  decisions: number;
  measuringSeconds: number;
}

export interface RuntimePlan extends RuntimePlanReport {
  model: Model;
  cache: { hit: boolean; file?: string; note?: string };
}

/** The options of `applyMerges` / `mergeAndRetrain` that reproduce a plan's merges (`only` and per-candidate kernels and widths). */
export function planMergeOptions(plan: Pick<RuntimePlanReport, 'kept'>): Pick<MergeOptions, 'only' | 'perCandidate'> {
  const only: string[] = [];
  const perCandidate: Record<string, CandidateOverrides> = {};
  for (const k of plan.kept) {
    if (k.recipe.family !== 'merge') continue;
    only.push(k.recipe.merge);
    perCandidate[k.recipe.merge] = k.recipe.options;
  }
  return { only, perCandidate };
}

/** The kept shrink changes' items, per padding mode (for buildShrink, one call per mode). */
export function planShrinkItems(plan: Pick<RuntimePlanReport, 'kept'>): Array<{ padding: PaddingMode; items: ShrinkRecipeItem[] }> {
  const out: Array<{ padding: PaddingMode; items: ShrinkRecipeItem[] }> = [];
  for (const k of plan.kept) {
    if (k.recipe.family !== 'shrink') continue;
    const padding = k.recipe.padding;
    const entry = out.find((e) => e.padding === padding);
    if (entry) entry.items.push(...k.recipe.items);
    else out.push({ padding, items: [...k.recipe.items] });
  }
  return out;
}

/** Explicit Tucker ranks of a plan's kept decompositions (for tuckerDecompose / tuckerAndRetrain). */
export function planTuckerRanks(plan: Pick<RuntimePlanReport, 'kept'>): Record<string, LayerRanks> {
  const out: Record<string, LayerRanks> = {};
  for (const k of plan.kept) if (k.recipe.family === 'tucker') Object.assign(out, k.recipe.ranks);
  return out;
}

/**
 * The plan's changes rebuilt on `model` by the families' own transforms, stage by stage: the planned
 * model from a cached plan, or the plan applied to retrained weights. `stages` picks the stages;
 * `onWarning` hears of a kept change that no longer applies (a fusion whose convs retraining renamed).
 */
export async function applyPlan(
  model: Model,
  plan: Pick<RuntimePlanReport, 'kept'>,
  options: { stages?: readonly PlanFamily[]; merge?: MergeFamilyOptions; hooi?: number; onWarning?: (line: string) => void } = {},
): Promise<Model> {
  const stages = options.stages ?? PLAN_FAMILIES;
  let m = model;
  const order: PlanFamily[] = [];
  for (const k of plan.kept) if (!order.includes(k.stage)) order.push(k.stage);
  for (const stage of order) {
    if (!stages.includes(stage)) continue;
    const kept = plan.kept.filter((k) => k.stage === stage);
    const merges = planMergeOptions({ kept });
    if (merges.only?.length) {
      m = applyMerges(m, {
        fold: false, init: options.merge?.init ?? 'inherit', seed: options.merge?.seed ?? 0,
        ...(options.merge?.layout ? { layout: options.merge.layout } : {}), ...(options.merge?.reducer5Ratio !== undefined ? { reducer5Ratio: options.merge.reducer5Ratio } : {}),
        ...merges,
      }).model;
    }
    // All of a stage's shrink changes at once: one analysis of the chains, the same network the
    // composed patches gave (the changes replace disjoint nodes).
    for (const { padding, items } of planShrinkItems({ kept })) m = buildShrink(m, items, padding);
    const ranks = planTuckerRanks({ kept });
    if (Object.keys(ranks).length) m = await buildTucker(m, ranks, options.hooi ?? 0);
    for (const k of kept) {
      if (k.recipe.family !== 'fusion') continue;
      // Two convs become a Conv and a Split, so the node count does not say whether it fused; the names do.
      const before = m.graph.nodes.map((n) => n.name).join('\n');
      m = buildFusion(m, k.recipe.members ?? [k.recipe.node]);
      if (m.graph.nodes.map((n) => n.name).join('\n') === before) options.onWarning?.(`${k.name}: the plan's fusion does not apply to this model; left out`);
    }
  }
  return m;
}

function checkOptions(o: RuntimePlanOptions): PlanFamily[] {
  const target = planTarget(o.target).name;
  const families = [...(o.families ?? ['merge', 'fusion'])];
  for (const f of families) if (!PLAN_FAMILIES.includes(f)) throw new RebirthError(`unknown plan family '${String(f)}'; families: ${PLAN_FAMILIES.join(', ')}`);
  if (families.length === 0) throw new RebirthError(`a plan needs at least one family (${PLAN_FAMILIES.join(', ')})`);
  const speedups = o.shrink?.speedups;
  if (speedups) for (const s of speedups) if (!(Number.isFinite(s) && s > 1)) throw new RebirthError(`shrink speed-ups must be numbers > 1, got ${s}`);
  if (o.shrink?.cost === 'table' && (!tableBackend(target) || o.measure)) {
    throw new RebirthError(`shrink cost 'table' times items on node or wasm; the target is '${target}'${o.measure ? ' with an injected measurement' : ''}: use cost 'macs'`);
  }
  const b = o.budget;
  if (b) {
    if (b.speedup !== undefined && b.latencyMs !== undefined) throw new RebirthError('give one budget: a speed-up or a latency, not both');
    if (b.speedup !== undefined && !(Number.isFinite(b.speedup) && b.speedup > 1)) throw new RebirthError(`budget speedup must be a number > 1, got ${b.speedup}`);
    if (b.latencyMs !== undefined && !(Number.isFinite(b.latencyMs) && b.latencyMs > 0)) throw new RebirthError(`budget latencyMs must be a number > 0, got ${b.latencyMs}`);
  }
  if (o.passes !== undefined && !(Number.isInteger(o.passes) && o.passes >= 1)) throw new RebirthError(`option passes must be a whole number >= 1, got ${o.passes}`);
  return families;
}

/**
 * The shrink family's options for this plan: the items' cost is their latency table on the target
 * where there is one to time them on (node, wasm; one thread, as the planner's sessions), else MACs.
 */
function tableBackend(target: string): 'node' | 'wasm' | undefined {
  return target === 'node' || target === 'wasm' ? target : undefined;
}

function shrinkFamilyOptions(options: RuntimePlanOptions, target: string): ShrinkFamilyOptions {
  const { cost, runs, ...rest } = options.shrink ?? {};
  const backend = tableBackend(target);
  // checkOptions refused 'table' where there is nothing to time items on.
  if (cost === 'macs' || !backend || options.measure) return rest;
  return {
    ...rest,
    itemCost: async (p) => (await measureLatencyTable(p.folded, p.structure, p.candidates.items, { backend, padding: p.padding, runs: runs ?? 10 })).ms,
  };
}

/**
 * Encoded models by model object: the plan so far is the baseline of every alternative of a site, and
 * the search hands the same object each time. (Not by applied names: the original and the folded start
 * both have none applied.) Weak, so models the search has moved past are freed with their bytes.
 */
class BytesCache {
  private readonly entries = new WeakMap<Model, Uint8Array>();
  get(point: PlanPoint): Uint8Array {
    let b = this.entries.get(point.model);
    if (!b) {
      b = encodeModel(point.model, { external: 'inline' });
      this.entries.set(point.model, b);
    }
    return b;
  }
}

/**
 * Plans `input` for a target: folds, then each family's candidates measured in context and kept where
 * they pay (search.ts), with an optional budget; cached per (model, target, runtime, machine, options).
 * The input model is not modified.
 */
export async function planModel(input: Model, options: RuntimePlanOptions): Promise<RuntimePlan> {
  const families = checkOptions(options);
  const target = planTarget(options.target);
  const log = options.log ?? ((): void => undefined);
  const decideOptions: DecideOptions = { ...options.decide, minGain: options.decide?.minGain ?? PLAN_MIN_GAIN };
  const inputBytes = encodeModel(input, { external: 'inline' });
  const key: PlanKey = {
    model: hashBytes(inputBytes), target: target.name, runtime: options.measure ? 'injected measurement' : target.runtime(), machine: machineId(),
    options: canonicalJson({
      families, merge: options.merge ?? {}, tucker: options.tucker ?? {}, budget: options.budget ?? {}, decide: decideOptions,
      // Only when asked for, so the keys of plans without the stage stay what they were.
      ...(families.includes('shrink') ? { shrink: options.shrink ?? {} } : {}),
      threads: options.threads ?? 1, fold: options.fold ?? true, passes: options.passes ?? 2,
      feeds: options.feeds ? Object.fromEntries(Object.entries(options.feeds).map(([k, t]) => [k, hashBytes(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))])) : null,
    }),
  };
  const cacheDir = options.cache === false ? undefined : (options.cache?.dir ?? defaultPlanCacheDir());
  const readCache = options.cache !== false && options.cache?.read !== false;
  const foldBackend = target.name === 'wasm' ? 'wasm' : 'node';
  const fold = async (): Promise<{ model: Model; folds: FoldReport[] }> =>
    options.fold === false ? { model: input, folds: [] } : foldForMerge(input, { backend: foldBackend });

  let note: string | undefined;
  if (cacheDir && readCache) {
    const cached = readCachedPlan<RuntimePlanReport>(cacheDir, key);
    if (cached) {
      try {
        const folded = await fold();
        const model = await applyPlan(folded.model, cached.plan, { ...(options.merge ? { merge: options.merge } : {}), ...(options.tucker?.hooi !== undefined ? { hooi: options.tucker.hooi } : {}) });
        log(`plan for ${target.name}: reused ${cached.file}`);
        return { ...cached.plan, model, cache: { hit: true, file: cached.file } };
      } catch (e) {
        note = `the cached plan ${cached.file} no longer applies (${e instanceof Error ? e.message : String(e)}); planned afresh`;
        log(note);
      }
    }
  }

  const started = performance.now();
  const folded = await fold();
  let session: TargetSession | undefined;
  let decisions = 0;
  const bytes = new BytesCache();
  const measure: MeasureFn = options.measure
    ? async (a, b) => {
      decisions++;
      return (options.measure as MeasureFn)(a, b);
    }
    : async (a, b): Promise<FasterDecision> => {
      session ??= await target.open({ ...(options.threads ? { threads: options.threads } : {}), ...(options.feeds ? { feeds: options.feeds } : {}), ...(options.browser ? { browser: options.browser } : {}) });
      decisions++;
      return session.decide(bytes.get(a), bytes.get(b), decideOptions);
    };
  const screen = async (before: Model, after: Model): Promise<FasterDecision> => {
    session ??= await target.open({ ...(options.threads ? { threads: options.threads } : {}), ...(options.browser ? { browser: options.browser } : {}) });
    decisions++;
    // A layer alone: the decision rule's own 3% (the layer's whole time is at stake, not a share of the
    // model's) and its own round cap (one-layer models time in microseconds, so rounds are cheap).
    return session.decide(encodeModel(before), encodeModel(after), { minGain: 0.03, ...(options.decide?.confidence !== undefined ? { confidence: options.decide.confidence } : {}) });
  };

  try {
    const search = new PlanSearch(input, {
      measure, ...(options.budget ? { budget: options.budget } : {}), ...(options.passes ? { passes: options.passes } : {}), log,
    }, folded.model);
    const stages: StageReport[] = [];
    for (const family of families) {
      if (search.reachedBudget) {
        stages.push({ family, candidates: [], refused: [{ site: family, reason: 'not proposed: the budget was reached' }] });
        continue;
      }
      const base = search.current.model;
      log(`plan for ${target.name}: proposing ${family} candidates`);
      let proposal: Proposal;
      if (family === 'merge') proposal = proposeMerges(base, options.merge ?? {});
      else if (family === 'fusion') proposal = proposeFusions(base);
      else if (family === 'shrink') proposal = await proposeShrink(base, shrinkFamilyOptions(options, target.name));
      else {
        const { screen: doScreen, ...rest } = options.tucker ?? {};
        const injectedScreen = options.measure
          ? undefined // a fake timer has no single-layer models to time: no screen
          : screen;
        proposal = await proposeTucker(base, { ...rest, ...((doScreen ?? true) && injectedScreen ? { screen: injectedScreen } : {}) });
      }
      log(`plan for ${target.name}: ${proposal.candidates.length} ${family} candidate(s) at ${new Set(proposal.candidates.map((p) => p.candidate.site)).size} site(s)`);
      const outcomes = await search.runStage(family, proposal.candidates);
      stages.push({ family, candidates: outcomes, refused: proposal.refused });
    }
    const summary = options.confirm === false ? undefined : await search.confirm();
    const byName = new Map(stages.flatMap((s) => s.candidates.map((c) => [c.name, { c, stage: s.family }] as const)));
    const kept: KeptChange[] = search.current.applied.map((name) => {
      const entry = byName.get(name);
      if (!entry) throw new RebirthError(`internal error: kept change '${name}' has no outcome`);
      return { name, family: entry.c.family, stage: entry.stage, exactness: entry.c.exactness, retrainParams: entry.c.retrainParams, recipe: entry.c.recipe };
    });
    const report: RuntimePlanReport = {
      target: target.name, runtime: key.runtime, machine: key.machine, modelHash: key.model, folds: folded.folds, stages, kept,
      ...(options.budget ? { budget: { ...options.budget, reached: search.reachedBudget, checks: search.budgetChecks } } : {}),
      ...(summary ? { summary } : {}), speedupEstimate: search.speedupEstimate, decisions, measuringSeconds: (performance.now() - started) / 1000,
    };
    let file: string | undefined;
    if (cacheDir) file = writeCachedPlan(cacheDir, key, report);
    return { ...report, model: search.current.model, cache: { hit: false, ...(file ? { file } : {}), ...(note ? { note } : {}) } };
  } finally {
    await session?.close();
  }
}
