/**
 * Depth compression, planned by measurement: fold BatchNorm (exact), find the chains of convs between
 * activations, enumerate what can merge into one conv, time every candidate on the target runtime,
 * score it by the loss it costs on calibration data, and pick the least costly set under a latency
 * budget with a dynamic program (src/shrink/plan.ts). `buildShrunk` then produces the network to
 * retrain (activations removed, padding moved) and, from it, the merged network; `shrinkAndRetrain`
 * (src/pipeline/shrink-retrain.ts) retrains in between.
 */
import type { Model } from '../ir/graph.js';
import { headData, isLabeled, streamBatches, type Data } from '../data/source.js';
import { cloneModel, runPasses } from '../rewrite/engine.js';
import { foldBatchNorm, foldPad, foldScale, removeIdentity } from '../rewrite/rules/index.js';
import { verifyModels } from '../rewrite/verify.js';
import { RebirthError } from '../errors.js';
import { formatTable } from '../util/format.js';
import { enumerateCandidates, type CandidateOptions, type Candidates, type Item } from './candidates.js';
import { linearize, mergeGroups, nameNodes, type Linearized } from './apply.js';
import { measureImportance, randomCalibration, type Calibration, type ImportanceLoss, type ImportanceResult } from './importance.js';
import { measureLatencyTable, measureModels, measureSpeedup, type Clock, type LatencyTable, type ShrinkTarget } from './latency.js';
import { planSegments, type Plan } from './plan.js';
import { analyzeStructure, chainActivations, unitName, type ModelStructure } from './structure.js';
import type { PaddingMode } from '../rewrite/linear-conv.js';
import type { BrowserRuntime } from '../runtime/browser.js';

export interface ShrinkPlanOptions extends CandidateOptions {
  /** Where the latency table and the speed-ups are measured (default 'node'). */
  target?: ShrinkTarget;
  /** Wanted speed-up of the whole network on the target (default 1.5 when no budget is given). */
  speedup?: number;
  /** Or a latency budget for the whole network, in ms on the table's clock. */
  latencyBudgetMs?: number;
  /** Calibration images for the importance scores (calibrationFromData); without them, 4 seeded random inputs and 'kl'. */
  calibration?: Calibration;
  importance?: ImportanceLoss;
  /** Timed rounds per model in the latency table (default 20). */
  runs?: number;
  warmupMs?: number;
  /** Time each whole-network speed-up takes at least (measureSpeedup's minSeconds, default 2). */
  measureSeconds?: number;
  clock?: Clock;
  threads?: number;
  resolution?: number;
  /** Solves of the program with a measured correction of the budget (default 3), and the accepted overshoot (default 0.08). */
  rounds?: number;
  tolerance?: number;
  /** Progress messages (stage by stage). */
  log?: (message: string) => void;
}

export interface PlanRound {
  plan: Plan;
  budgetMs: number;
  measuredSpeedup: number;
}

export interface ShrinkPlanResult {
  /** The folded input (BatchNorm and identities folded, nodes named): what every item refers to. */
  folded: Model;
  structure: ModelStructure;
  candidates: Candidates;
  table: LatencyTable;
  importance: ImportanceResult;
  /** Whole folded network, measured, and the part outside the chains (whole minus the kept items). */
  wholeMs: number;
  restMs: number;
  plan: Plan;
  /** Each solve of the program, with the budget used and the speed-up measured for its plan. */
  rounds: PlanRound[];
  /** Measured speed-up of the chosen plan's merged network over the folded one (paired runs, the table's clock). */
  measuredSpeedup: number;
  padding: PaddingMode;
  target: ShrinkTarget;
  speedup: number;
}

/** BatchNorm, Scale, Pad and identities folded exactly (checked on ORT); every node named. */
export async function foldForShrink(model: Model): Promise<Model> {
  const folded = cloneModel(model);
  const r = runPasses(folded, [removeIdentity, foldBatchNorm, foldScale, foldPad]);
  if (r.changed) {
    const v = await verifyModels(model, folded, { tolerance: 1e-4 });
    if (!v.passed) throw new RebirthError(`shrink: folding BatchNorm changed the outputs by ${v.maxRelError.toExponential(2)} relative; rerun with the model unfolded`);
  }
  nameNodes(folded);
  return folded;
}

/** `count` samples spread over the data (headData) as calibration data, with labels when it has them. */
export async function calibrationFromData(data: Data, count: number): Promise<Calibration> {
  const picked = headData(data, count);
  const per = data.shape[0] * data.shape[1] * data.shape[2];
  const images = new Float32Array(picked.count * per);
  const labels = new Int32Array(picked.count);
  let n = 0;
  for await (const b of streamBatches(picked, { batchSize: 256 })) {
    images.set(b.x.subarray(0, b.size * per), n * per);
    labels.set(b.y.subarray(0, b.size), n);
    n += b.size;
  }
  return {
    images: images.subarray(0, n * per), count: n, shape: data.shape,
    ...(isLabeled(data) ? { labels: labels.subarray(0, n) } : {}),
  };
}

/** What does not depend on the target: the folded model, its chains, the candidates and their importance. */
export interface PreparedShrink {
  folded: Model;
  structure: ModelStructure;
  candidates: Candidates;
  importance: ImportanceResult;
  padding: PaddingMode;
}

/** Fold, analyse, enumerate and score (see the file comment); planShrink does the rest per target. */
export async function prepareShrink(model: Model, options: ShrinkPlanOptions = {}): Promise<PreparedShrink> {
  const log = options.log ?? ((): void => undefined);
  const padding = options.padding ?? 'push';
  const folded = await foldForShrink(model);
  const structure = analyzeStructure(folded);
  if (structure.chains.length === 0) throw new RebirthError('shrink: the model has no chain of convolutions to merge (convs need constant weights and known input shapes)');
  const candidates = enumerateCandidates(folded.graph, structure, options);
  log(`${structure.chains.length} chains, ${candidates.items.length} candidate items, ${candidates.refusals.length} refused runs`);
  const input = folded.graph.inputs.find((v) => !folded.graph.initializers.has(v.name));
  const shape = input ? structure.shapes.get(input.name) : undefined;
  if (!shape) throw new RebirthError('shrink: the model input needs a known per-sample shape');
  // Without data, a few seeded random inputs: the KL to the original's outputs still ranks what
  // removing an activation changes (a structure-only model has nothing better to offer).
  const calib = options.calibration ?? randomCalibration(shape, 4);
  const importance = await measureImportance(folded, structure, candidates.items, calib, {
    padding, ...(options.importance ? { loss: options.importance } : {}), ...(options.threads !== undefined ? { threads: options.threads } : {}),
  });
  log(`importance (${importance.loss}) of ${candidates.items.filter((i) => i.kind !== 'keep').length} items on ${calib.count} images`);
  return { folded, structure, candidates, importance, padding };
}

/** Everything up to the plan (see the file comment); `prepared` reuses a prepareShrink result (another target). */
export async function planShrink(model: Model, options: ShrinkPlanOptions & { prepared?: PreparedShrink } = {}): Promise<ShrinkPlanResult> {
  const target = options.target ?? 'node';
  // A page's 'cpu' times are its wall times (timeModelsInBrowser), so asking for CPU time there would
  // label wall time as CPU time.
  if (target === 'browser' && options.clock === 'cpu') throw new RebirthError('shrink: --clock cpu with --target browser: a page has no process CPU clock; leave --clock out (wall time there)');
  if (options.speedup !== undefined && options.latencyBudgetMs !== undefined) throw new RebirthError('shrink: give --speedup or --latency-budget, not both');
  const speedup = options.speedup ?? 1.5;
  if (!(speedup > 0)) throw new RebirthError(`shrink: --speedup must be above 0, got ${speedup}`);
  const prepared = options.prepared ?? await prepareShrink(model, options);
  if (target !== 'browser') return planMeasured(prepared, target, speedup, options);
  // One Chromium for the whole plan: the table's shape groups, the whole network and every round's
  // speed-up each launched their own before (seconds each, several times per plan).
  const { withBrowser } = await import('../runtime/browser.js');
  return withBrowser('browser:wasm', {}, (browser) => planMeasured(prepared, target, speedup, options, browser));
}

async function planMeasured(prepared: PreparedShrink, target: ShrinkTarget, speedup: number, options: ShrinkPlanOptions, browser?: BrowserRuntime): Promise<ShrinkPlanResult> {
  const log = options.log ?? ((): void => undefined);
  const { folded, structure, candidates, importance, padding } = prepared;
  const timing = {
    backend: target, padding, ...(options.runs !== undefined ? { runs: options.runs } : {}), ...(options.warmupMs !== undefined ? { warmupMs: options.warmupMs } : {}),
    ...(options.clock ? { clock: options.clock } : {}), ...(browser ? { browser } : {}),
  };
  const table = await measureLatencyTable(folded, structure, candidates.items, timing);
  const whole = await measureModels({ whole: folded }, timing);
  const wholeMs = whole.whole ?? NaN;
  const keptMs = candidates.items.filter((i) => i.kind === 'keep').reduce((s, i) => s + (table.ms.get(i.id) ?? 0), 0);
  const restMs = Math.max(0, wholeMs - keptMs);
  log(`latency table on ${target} (${table.clock} clock): whole network ${wholeMs.toFixed(3)} ms, items ${keptMs.toFixed(3)} ms`);
  // The items' times add up to more than the whole network takes (each stand-alone run pays costs the
  // network pays once), so the budget is set on the items' scale, T_keep x (target / whole), and then
  // corrected by measurement: the plan is built and the whole merged network timed against the folded
  // one; when the measured speed-up misses the target (or overshoots it by more than `tolerance`,
  // which costs accuracy for nothing), the budget is scaled by measured / wanted and the program solved
  // again, at most `rounds` times. The plan kept is the least important one that met the target, else
  // the fastest measured.
  const wanted = options.latencyBudgetMs !== undefined ? wholeMs / options.latencyBudgetMs : speedup;
  let budget = keptMs / wanted;
  const rounds: PlanRound[] = [];
  for (let k = 0; k < (options.rounds ?? 3); k++) {
    const plan = planSegments({
      structure, items: candidates.items, latency: table.ms, importance: importance.delta, budgetMs: budget,
      ...(options.resolution !== undefined ? { resolution: options.resolution } : {}),
    });
    if (rounds.some((r) => samePlan(r.plan, plan))) break;
    const { merged } = buildShrunk({ folded, structure, plan, padding });
    const measured = (await measureSpeedup(folded, merged, {
      ...timing, runs: Math.max(40, options.runs ?? 20), ...(options.measureSeconds !== undefined ? { minSeconds: options.measureSeconds } : {}),
    })).speedup;
    rounds.push({ plan, budgetMs: budget, measuredSpeedup: measured });
    log(`plan ${k + 1}: budget ${budget.toFixed(3)} ms on the items' scale, predicted ${(plan.baselineMs / plan.predictedMs).toFixed(2)}x, measured ${measured.toFixed(2)}x, importance ${plan.importance.toFixed(4)}`);
    if (!plan.met || (measured >= wanted && measured <= wanted * (1 + (options.tolerance ?? 0.08)))) break;
    budget *= measured / wanted;
  }
  const meeting = rounds.filter((r) => r.measuredSpeedup >= wanted);
  let best = meeting.length > 0
    ? meeting.reduce((a, b) => (b.plan.importance < a.plan.importance ? b : a))
    : rounds.reduce((a, b) => (b.measuredSpeedup > a.measuredSpeedup ? b : a));
  if (best.measuredSpeedup < 1) {
    // Every plan measured slower than the network as it is: keep it as it is.
    const keep = planSegments({
      structure, items: candidates.items.filter((i) => i.kind === 'keep'), latency: table.ms, importance: importance.delta, budgetMs: keptMs * 1.01 + 1e-9,
    });
    best = { plan: keep, budgetMs: keptMs, measuredSpeedup: 1 };
    log('every plan measured slower than the network as it is: nothing is merged');
  }
  return {
    folded, structure, candidates, table, importance, wholeMs, restMs, plan: best.plan, rounds, measuredSpeedup: best.measuredSpeedup,
    padding, target, speedup: wanted,
  };
}

function samePlan(a: Plan, b: Plan): boolean {
  return a.items.length === b.items.length && a.items.every((it, i) => it.id === b.items[i]?.id);
}

export interface Shrunk {
  /** The network to retrain: activations removed, padding moved, collapsed blocks as one conv. */
  linearized: Linearized;
  /** The merged network (exact merge of `linearized`). */
  merged: Model;
}

/** The networks of a plan (merge them again with mergeGroups after retraining `linearized.model`). */
export function buildShrunk(result: Pick<ShrinkPlanResult, 'folded' | 'structure' | 'plan' | 'padding'>): Shrunk {
  const linearized = linearize(result.folded, result.structure, result.plan.items, result.padding);
  return { linearized, merged: mergeGroups(linearized.model, linearized.groups) };
}

/** Items of the plan that change something. */
export function changedItems(plan: Plan): Item[] {
  return plan.items.filter((i) => i.kind !== 'keep');
}

/** The latency table with the choice marked, and the plan, as text (`rebirth shrink --explain`). */
export function explainShrink(r: ShrinkPlanResult, options: { all?: boolean } = {}): string {
  const chosen = new Set(r.plan.items.map((i) => i.id));
  const lines: string[] = [];
  const rows = r.candidates.items
    .filter((i) => options.all || i.kind !== 'keep' || chosen.has(i.id))
    .map((i) => [
      chosen.has(i.id) ? '*' : '', i.id, i.kind, i.label, i.removed.map((a) => a.name).join(' ') || '-',
      `${(i.macsBefore / 1e6).toFixed(2)}M`, `${(i.macs / 1e6).toFixed(2)}M`,
      (r.table.ms.get(i.id) ?? NaN).toFixed(4), (r.importance.delta.get(i.id) ?? 0).toFixed(4),
    ]);
  lines.push(`latency table on ${r.target} (${r.table.clock} clock, ms per item after the fixed run cost), importance = ${r.importance.loss} loss increase (baseline ${r.importance.baseline.toFixed(4)}); * = chosen`);
  lines.push(formatTable(['', 'item', 'kind', 'what', 'removes', 'MACs before', 'MACs after', 'ms', 'importance'], rows));
  if (r.candidates.refusals.length > 0) {
    lines.push('', 'runs that cannot merge:');
    for (const f of r.candidates.refusals) lines.push(`  ${f.units}: ${f.reason}`);
  }
  const removed = changedItems(r.plan).flatMap((i) => i.removed.map((a) => a.name));
  const total = r.structure.chains.reduce((s, c) => s + chainActivations(c).length, 0);
  lines.push('', `plan: ${changedItems(r.plan).length} merges, ${removed.length} of ${total} activations removed; ` +
    `items ${r.plan.baselineMs.toFixed(3)} -> ${r.plan.predictedMs.toFixed(3)} ms (${(r.plan.baselineMs / r.plan.predictedMs).toFixed(2)}x predicted), ` +
    `whole network ${r.measuredSpeedup.toFixed(2)}x measured for ${r.speedup.toFixed(2)}x wanted (${r.wholeMs.toFixed(3)} ms before)` +
    `${r.measuredSpeedup >= r.speedup ? '' : ' NOT reached: this is the fastest plan measured'}; summed importance ${r.plan.importance.toFixed(4)}`);
  for (const c of r.structure.chains) {
    const segs = r.plan.items.filter((i) => r.structure.chains[i.chain] === c);
    if (segs.every((s) => s.kind === 'keep')) continue;
    lines.push(`  ${c.name}: ${segs.map((s) => {
      const names = c.units.slice(s.first, s.last + 1).map(unitName);
      return s.kind === 'keep' ? names.join('') : `[${s.label}]`;
    }).join(' ')}`);
  }
  return lines.join('\n');
}
