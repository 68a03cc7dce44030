/**
 * Which candidates a runtime plan keeps: a stepwise search over measured whole-model latencies.
 *
 * - Forward selection in context: sites (a block, a module, a layer group) are visited in priority
 *   order (exact changes first, then fewer parameters to retrain, then graph order). Each alternative of
 *   the site is applied on top of everything kept so far and the whole model is timed against the plan
 *   without it (decideFaster's rule, src/runtime/decide.ts). So a candidate is judged by what it adds to
 *   the plan, not by what it would do alone: two candidates that each pay alone but not together are
 *   not both kept, because the second is measured with the first applied. Of a site's alternatives that
 *   pay, the least severe is taken unless a more severe one is measurably faster than it head to head.
 * - Backward elimination: a candidate kept early may stop paying once later ones are in (the later
 *   change subsumes its gain, or changes the kernels ORT picks around it). Every kept candidate is timed
 *   again as "the whole plan" against "the whole plan without it", latest first, and removed unless it
 *   still pays. When anything was removed, the sites left without a change get a second forward pass in
 *   the new context (`passes`, default 2).
 *
 * Why not plain one-at-a-time greedy (each candidate against the original, keep all that pay): it is
 * blind to interactions, which is the failure this planner exists to avoid. Why not best-first greedy
 * (re-measure every remaining candidate after each keep) or beam search: both cost O(n^2) or more
 * whole-model decisions (GoogLeNet has 22 merge alternatives and ~40 Tucker layers; one decision takes
 * 1-10 s on a shared machine), while forward-then-backward costs ~2n and still catches pairwise
 * interactions in both directions. docs/planner.md has the argument and the cost.
 *
 * - Joint test of small gains: a decision needs its interval above 1 + minGain / 3, and a 40 ms model
 *   timed 10-30 times gives intervals of about +-3%, so gains of 2-5% are left one by one (GoogLeNet's
 *   Tucker blocks on node in one quiet run: six left at 1.02-1.05x each; docs/planner.md). After each
 *   forward pass, the sites left without a change whose best alternative measured at least 1 + JOINT_MIN
 *   (the estimate, not the interval) are applied together and timed as one change against the plan; the
 *   group is kept whole if it pays, and the backward pass judges it whole (plan without the group). One
 *   more decision per pass; for identical copies the group is as null as each member, so the same rule
 *   bounds its false keeps.
 *
 * With a budget (a speed-up or a latency to reach) the search stops as soon as the plan reaches it, so
 * the priority order decides what the budget buys: exact changes, then the ones that retrain fewest
 * parameters; and at a site the least severe alternative that pays is taken instead of the fastest.
 */
import type { Model } from '../ir/graph.js';
import type { FasterDecision } from '../runtime/decide.js';
import { errorMessage, firstLine } from '../errors.js';
import { applyPatch, type CandidateRecipe, type Exactness, type PreparedCandidate } from './candidate.js';

/** A site is a member of the joint test when its best forward estimate reached this gain (the planner's minGain). */
const JOINT_MIN = 0.01;

/** A model of the plan together with the candidates applied to reach it (the fake timers of tests read these). */
export interface PlanPoint {
  applied: readonly string[];
  model: Model;
}

/** One paired decision: is `candidate` faster than `baseline` on the target (decideFaster's rule)? */
export type MeasureFn = (baseline: PlanPoint, candidate: PlanPoint) => Promise<FasterDecision>;

export interface Budget {
  /** Stop once the plan is this many times faster than the original (> 1). */
  speedup?: number;
  /** Stop once the plan's median latency on the target is at most this (ms, the decision's clock). */
  latencyMs?: number;
}

/** A measurement as the plan reports it. */
export interface Measurement {
  /**
   * forward: added on top of the plan; head-to-head: against a less severe alternative of its site;
   * joint: several small gains applied together on top of the plan; backward: the plan against the plan
   * without it (or without its joint group); budget / final: the plan against the original.
   */
  phase: 'forward' | 'head-to-head' | 'joint' | 'backward' | 'budget' | 'final';
  /** Candidates applied in the baseline of this measurement. */
  context: string[];
  keep: boolean;
  /** Speed-up of the candidate side over the baseline side, with its interval. */
  ratio: number;
  interval: [number, number];
  confidence: number;
  rounds: number;
  clock: string;
  baselineMs: number;
  candidateMs: number;
  /** decideFaster's one-line verdict. */
  reason: string;
}

export interface CandidateOutcome {
  name: string;
  family: string;
  site: string;
  variant: string;
  stage: string;
  nodes: string[];
  exactness: Exactness;
  retrainParams: number;
  severity: number;
  description: string;
  /** How to build it again (JSON). */
  recipe: CandidateRecipe;
  status: 'kept' | 'left';
  /** One line: why it was kept or left. */
  why: string;
  /** The measurement behind the verdict (absent when it was never measured). */
  gain?: Measurement;
  /** Every measurement of this candidate, in order. */
  measurements: Measurement[];
}

export interface SearchOptions {
  measure: MeasureFn;
  budget?: Budget;
  /** Forward passes at most (default 2: a second one only after the backward pass removed something). */
  passes?: number;
  /** Skip the backward pass (default false). */
  noBackward?: boolean;
  /** Skip the joint test of the small gains a forward pass left (default false). */
  noJoint?: boolean;
  log?: (line: string) => void;
}

function record(phase: Measurement['phase'], context: readonly string[], d: FasterDecision): Measurement {
  return {
    phase, context: [...context], keep: d.keep, ratio: d.ratio, interval: [d.interval[0], d.interval[1]], confidence: d.confidence,
    rounds: d.rounds, clock: d.clock, baselineMs: d.baselineMs, candidateMs: d.candidateMs, reason: d.reason,
  };
}

/**
 * '1.234x (1.100-1.380)'. An interval can be unbounded (too few rounds for the confidence asked:
 * decide.ts returns [0, inf)), which JSON, and so a cached plan, holds as null.
 */
export function fmtRatio(m: Pick<Measurement, 'ratio' | 'interval'>): string {
  const f = (x: number | null): string => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(3) : 'inf');
  return `${f(m.ratio)}x (${f(m.interval[0])}-${f(m.interval[1])})`;
}

interface Site {
  site: string;
  /** Alternatives, least severe first. */
  alternatives: PreparedCandidate[];
  order: number;
}

function siteKey(s: Site): [number, number, number] {
  const first = s.alternatives[0] as PreparedCandidate;
  return [s.alternatives.every((a) => a.candidate.exactness === 'exact') ? 0 : 1, first.candidate.retrainParams, s.order];
}

/** Sites in priority order: exact first, then fewer parameters to retrain (of the least severe alternative), then proposal order. */
export function orderSites(candidates: readonly PreparedCandidate[]): Array<{ site: string; alternatives: PreparedCandidate[] }> {
  const sites = new Map<string, Site>();
  candidates.forEach((p) => {
    const s = sites.get(p.candidate.site);
    if (s) s.alternatives.push(p);
    else sites.set(p.candidate.site, { site: p.candidate.site, alternatives: [p], order: sites.size });
  });
  for (const s of sites.values()) {
    s.alternatives.sort((a, b) => a.candidate.severity - b.candidate.severity || a.candidate.retrainParams - b.candidate.retrainParams);
  }
  return [...sites.values()].sort((a, b) => {
    const ka = siteKey(a);
    const kb = siteKey(b);
    return ka[0] - kb[0] || ka[1] - kb[1] || ka[2] - kb[2];
  });
}

/**
 * The search across stages: one instance per plan. Each stage's candidates are proposed on the model
 * the earlier stages produced (`current`), and its kept candidates are applied on top of it.
 */
export class PlanSearch {
  private applied: string[] = [];
  private model: Model;
  private readonly original: PlanPoint;
  /** Running estimate of the plan's speed-up over the original: product of in-context ratios, or the last budget measurement. */
  private estimate = 1;
  private originalMs: number | undefined;
  private budgetMet = false;
  private measuredOnce = false;
  readonly budgetChecks: Measurement[] = [];
  private readonly log: (line: string) => void;
  private readonly budget: Budget | undefined;

  /**
   * `original`: what speed-ups and budgets are measured against; `start`: the model the first stage
   * proposes on (default the original; the exact folds when they ran first).
   */
  constructor(original: Model, private readonly options: SearchOptions, start: Model = original) {
    this.model = start;
    this.original = { applied: [], model: original };
    this.log = options.log ?? ((): void => undefined);
    const b = options.budget;
    this.budget = b && (b.speedup !== undefined || b.latencyMs !== undefined) ? b : undefined;
  }

  get current(): PlanPoint {
    return { applied: [...this.applied], model: this.model };
  }

  get speedupEstimate(): number {
    return this.estimate;
  }

  get reachedBudget(): boolean {
    return this.budgetMet;
  }

  private async decide(phase: Measurement['phase'], baseline: PlanPoint, candidate: PlanPoint): Promise<Measurement | string> {
    try {
      const d = await this.options.measure(baseline, candidate);
      if (baseline.applied.length === 0 && baseline.model === this.original.model) this.originalMs ??= d.baselineMs;
      this.measuredOnce = true;
      return record(phase, baseline.applied, d);
    } catch (e) {
      // Before any measurement has worked the fault is the setup (no runtime, inputs it cannot make), not
      // the candidate: a plan of nothing but "cannot be measured" would hide it.
      if (!this.measuredOnce) throw e;
      return `cannot be measured on the target: ${firstLine(errorMessage(e))}`;
    }
  }

  /** Whether the budget is reached, measuring the plan against the original when the estimate says it might be. */
  private async checkBudget(): Promise<boolean> {
    const b = this.budget;
    if (!b || this.budgetMet) return this.budgetMet;
    const predictedMs = this.originalMs !== undefined ? this.originalMs / this.estimate : undefined;
    // Without the original's latency yet, the first change kept triggers a measurement that gives it.
    const mayMeet = (b.speedup !== undefined && this.estimate >= b.speedup)
      || (b.latencyMs !== undefined && (predictedMs === undefined ? this.applied.length > 0 : predictedMs <= b.latencyMs));
    if (!mayMeet) return false;
    if (this.applied.length === 0 && this.model === this.original.model) {
      // The original itself is within a latency budget: nothing to change.
      this.budgetMet = true;
      return true;
    }
    const m = await this.decide('budget', this.original, this.current);
    if (typeof m === 'string') return false;
    this.budgetChecks.push(m);
    this.estimate = m.ratio;
    this.originalMs = m.baselineMs;
    this.budgetMet = (b.speedup !== undefined && m.ratio >= b.speedup) || (b.latencyMs !== undefined && m.candidateMs <= b.latencyMs);
    this.log(`  budget check: the plan measures ${fmtRatio(m)} against the original, ${m.candidateMs.toFixed(2)} ms: ${this.budgetMet ? 'reached' : 'not yet'}`);
    return this.budgetMet;
  }

  /** The measurement of the plan against the original, for the report. */
  async confirm(): Promise<Measurement | undefined> {
    if (this.applied.length === 0 && this.model === this.original.model) return undefined;
    const m = await this.decide('final', this.original, this.current);
    return typeof m === 'string' ? undefined : m;
  }

  /**
   * The joint test (see the file comment): the sites a forward pass left whose best alternative's estimate
   * reached 1 + JOINT_MIN, applied together on top of the plan and timed as one change. Returns the
   * group when it pays (this.model and the estimate then include it), else undefined.
   */
  private async jointTest(
    sites: ReadonlyArray<{ site: string; alternatives: PreparedCandidate[] }>, kept: readonly PreparedCandidate[],
    forward: ReadonlyMap<PreparedCandidate, Measurement>, dead: ReadonlySet<string>,
    names: (list: readonly PreparedCandidate[]) => string[], out: (c: PreparedCandidate) => CandidateOutcome,
  ): Promise<PreparedCandidate[] | undefined> {
    const members: PreparedCandidate[] = [];
    for (const s of sites) {
      if (dead.has(s.site) || kept.some((k) => k.candidate.site === s.site)) continue;
      let best: { p: PreparedCandidate; m: Measurement } | undefined;
      for (const p of s.alternatives) {
        const m = forward.get(p);
        if (m && !m.keep && m.ratio >= 1 + JOINT_MIN && (!best || m.ratio > best.m.ratio)) best = { p, m };
      }
      if (best) members.push(best.p);
    }
    if (members.length < 2) return undefined;
    let model: Model | string = this.model;
    for (const p of members) {
      model = applyPatch(model, p.patch);
      if (typeof model === 'string') return undefined; // members conflict: each stays left as measured
    }
    const current: PlanPoint = { applied: names(kept), model: this.model };
    const m = await this.decide('joint', current, { applied: [...current.applied, ...members.map((p) => p.candidate.name)], model });
    if (typeof m === 'string') return undefined;
    const list = members.map((p) => p.candidate.name).join(', ');
    this.log(`  joint ${list}: ${fmtRatio(m)} on top of ${current.applied.length} applied: ${m.keep ? 'pays' : 'does not pay'}`);
    for (const p of members) {
      out(p).measurements.push(m);
      if (m.keep) {
        Object.assign(out(p), { status: 'kept', gain: m, why: `pays jointly with ${members.length - 1} other small gain(s) (${list}) on top of ${describeContext(current.applied)}: ${m.reason}` });
      } else {
        out(p).why += `; jointly with ${list}: ${fmtRatio(m)}, does not pay either`;
      }
    }
    if (!m.keep) return undefined;
    this.model = model;
    this.applied = [...current.applied, ...members.map((p) => p.candidate.name)];
    this.estimate *= m.ratio;
    return members;
  }

  /** Run the search over one stage's candidates (proposed on `this.current.model`). */
  async runStage(stage: string, candidates: readonly PreparedCandidate[]): Promise<CandidateOutcome[]> {
    const base = this.model;
    const baseApplied = [...this.applied];
    const outcomes = new Map<string, CandidateOutcome>();
    for (const p of candidates) {
      const c = p.candidate;
      outcomes.set(c.name, {
        name: c.name, family: c.family, site: c.site, variant: c.variant, stage, nodes: [...c.nodes], exactness: c.exactness,
        retrainParams: c.retrainParams, severity: c.severity, description: c.description, recipe: c.recipe, status: 'left', why: 'not tried', measurements: [],
      });
    }
    const out = (c: PreparedCandidate): CandidateOutcome => outcomes.get(c.candidate.name) as CandidateOutcome;
    const sites = orderSites(candidates);
    /** Kept in this stage, in the order they were added. */
    let kept: PreparedCandidate[] = [];
    const build = (list: readonly PreparedCandidate[]): Model | string => {
      let m: Model | string = base;
      for (const p of list) {
        m = applyPatch(m, p.patch);
        if (typeof m === 'string') return `${p.candidate.name}: ${m}`;
      }
      return m;
    };
    const names = (list: readonly PreparedCandidate[]): string[] => [...baseApplied, ...list.map((p) => p.candidate.name)];
    const passes = this.options.passes ?? 2;
    /** Sites whose alternatives could not be built or measured at all: not retried. */
    const dead = new Set<string>();
    let lastAddedUnchanged: PreparedCandidate | undefined;
    const removedBackward = new Set<string>();
    /** Changes kept together by a joint test: judged as one by the backward pass. */
    const groups: Array<Set<PreparedCandidate>> = [];

    for (let pass = 0; pass < passes; pass++) {
      /** This pass's forward measurement of each alternative, for the joint test. */
      const forward = new Map<PreparedCandidate, Measurement>();
      // Forward selection in context.
      for (const s of sites) {
        if (kept.some((k) => k.candidate.site === s.site) || dead.has(s.site)) continue;
        if (await this.checkBudget()) break;
        const current: PlanPoint = { applied: names(kept), model: this.model };
        const measured: Array<{ p: PreparedCandidate; m: Measurement; model: Model }> = [];
        let attempted = 0;
        for (const p of s.alternatives) {
          // A change the backward pass just removed was timed in this very context: its verdict stands.
          if (removedBackward.has(p.candidate.name)) continue;
          attempted++;
          const model = applyPatch(this.model, p.patch);
          if (typeof model === 'string') {
            Object.assign(out(p), { status: 'left', why: `cannot be built on the plan: ${model}` });
            continue;
          }
          const m = await this.decide('forward', current, { applied: [...current.applied, p.candidate.name], model });
          if (typeof m === 'string') {
            Object.assign(out(p), { status: 'left', why: m });
            continue;
          }
          out(p).measurements.push(m);
          Object.assign(out(p), { status: 'left', gain: m, why: `${m.keep ? 'pays' : 'does not pay'} on top of ${describeContext(current.applied)}: ${m.reason}` });
          this.log(`  ${p.candidate.name}: ${fmtRatio(m)} on top of ${current.applied.length} applied: ${m.keep ? 'pays' : 'does not pay'}`);
          measured.push({ p, m, model });
          forward.set(p, m);
          // With a budget the least severe alternative that pays is taken: no need to time the others.
          if (m.keep && this.budget) break;
        }
        if (measured.length === 0) {
          if (attempted > 0) dead.add(s.site);
          continue;
        }
        const paying = measured.filter((x) => x.m.keep);
        if (paying.length === 0) continue;
        // Between alternatives that pay, the least severe stays the choice unless a more severe one is
        // measurably faster than it, head to head: two intervals against a common baseline overlap for
        // differences a direct paired comparison resolves. (With a budget only the first that pays was timed.)
        let chosen = paying[0] as (typeof paying)[number];
        const versus = new Map<PreparedCandidate, Measurement>();
        for (const x of paying.slice(1)) {
          if (!(x.m.ratio > chosen.m.ratio)) continue;
          const h = await this.decide('head-to-head', { applied: [...current.applied, chosen.p.candidate.name], model: chosen.model }, { applied: [...current.applied, x.p.candidate.name], model: x.model });
          if (typeof h === 'string') continue;
          out(x.p).measurements.push(h);
          versus.set(x.p, h);
          this.log(`  ${x.p.candidate.name} against ${chosen.p.candidate.name}: ${fmtRatio(h)}: ${h.keep ? 'faster, taken instead' : 'not measurably faster'}`);
          if (h.keep) chosen = x;
        }
        kept.push(chosen.p);
        this.applied = names(kept);
        this.model = chosen.model;
        this.estimate *= chosen.m.ratio;
        lastAddedUnchanged = chosen.p;
        const won = versus.get(chosen.p);
        Object.assign(out(chosen.p), {
          status: 'kept',
          why: `pays on top of ${describeContext(current.applied)}: ${chosen.m.reason}${won ? `; and ${fmtRatio(won)} against a less severe alternative` : ''}`,
        });
        for (const p of s.alternatives) {
          if (p === chosen.p) continue;
          const o = out(p);
          const x = measured.find((y) => y.p === p);
          if (!x) {
            if (o.why === 'not tried') o.why = `not tried: ${chosen.p.candidate.variant} at ${s.site} paid first (with a budget the least severe alternative that pays is taken)`;
          } else if (x.m.keep) {
            const h = versus.get(p);
            o.why = `${chosen.p.candidate.variant} was taken at ${s.site} instead (${fmtRatio(chosen.m)}); this one measured ${fmtRatio(x.m)}` +
              (h ? `, and ${fmtRatio(h)} head to head: ${h.keep ? 'faster, but a later alternative was faster still' : 'not measurably faster'}` : x.m.ratio <= chosen.m.ratio ? ', no faster' : '');
          }
        }
      }
      if (!this.options.noJoint && !(await this.checkBudget())) {
        const group = await this.jointTest(sites, kept, forward, dead, names, out);
        if (group) {
          kept.push(...group);
          groups.push(new Set(group));
          lastAddedUnchanged = undefined;
        }
      }
      await this.checkBudget();
      if (this.options.noBackward || kept.length === 0) break;
      // Backward elimination: does each kept candidate still pay with everything else applied?
      let removed = false;
      /** The plan becomes `others` (built as `without`), which measured `m` against it with the dropped changes. */
      const dropTo = (others: PreparedCandidate[], without: Model, m: Measurement, dropped: Iterable<PreparedCandidate>): void => {
        for (const p of dropped) removedBackward.add(p.candidate.name);
        kept = others;
        this.applied = names(kept);
        this.model = without;
        this.estimate /= Math.max(m.ratio, 1e-9);
        this.budgetMet = false;
        lastAddedUnchanged = undefined;
        removed = true;
      };
      for (const g of [...groups].reverse()) {
        if (g.size === 0) continue;
        const others = kept.filter((k) => !g.has(k));
        const without = build(others);
        if (typeof without === 'string') continue;
        const m = await this.decide('backward', { applied: names(others), model: without }, { applied: names(kept), model: this.model });
        if (typeof m === 'string') continue;
        const members = [...g].map((p) => p.candidate.name).join(', ');
        this.log(`  joint group ${members} (backward): ${fmtRatio(m)} against the plan without it: ${m.keep ? 'still pays' : 'no longer pays, removed'}`);
        for (const p of g) {
          out(p).measurements.push(m);
          Object.assign(out(p), m.keep
            ? { gain: m, why: `still pays jointly (${members}) with the rest of the plan applied: ${m.reason}` }
            : { status: 'left', gain: m, why: `kept jointly at first, then left: with ${describeContext(names(others))} the group (${members}) no longer pays: ${m.reason}` });
        }
        if (m.keep) continue;
        dropTo(others, without, m, g);
        g.clear();
      }
      for (const p of [...kept].reverse()) {
        if (groups.some((g) => g.has(p))) continue; // judged with its group above
        if (p === lastAddedUnchanged && kept[kept.length - 1] === p) continue; // its forward measurement was exactly this comparison
        const others = kept.filter((k) => k !== p);
        const without = build(others);
        if (typeof without === 'string') continue;
        const full: PlanPoint = { applied: names(kept), model: this.model };
        const m = await this.decide('backward', { applied: names(others), model: without }, full);
        if (typeof m === 'string') continue;
        out(p).measurements.push(m);
        this.log(`  ${p.candidate.name} (backward): ${fmtRatio(m)} against the plan without it: ${m.keep ? 'still pays' : 'no longer pays, removed'}`);
        if (m.keep) {
          // The latest context is the one that matters for the report: the rest of the plan as it stands.
          Object.assign(out(p), { gain: m, why: `still pays with the rest of the plan applied (${describeContext(names(others))}): ${m.reason}` });
          continue;
        }
        Object.assign(out(p), { status: 'left', gain: m, why: `kept at first, then left: with ${describeContext(names(others))} it no longer pays: ${m.reason}` });
        dropTo(others, without, m, [p]);
      }
      if (!removed) break;
    }
    if (this.budgetMet) {
      for (const o of outcomes.values()) if (o.why === 'not tried') o.why = 'not tried: the budget was reached';
    }
    return [...outcomes.values()];
  }
}

function describeContext(applied: readonly string[]): string {
  if (applied.length === 0) return 'the original';
  if (applied.length <= 3) return applied.join(' + ');
  return `${applied.length} kept changes`;
}
