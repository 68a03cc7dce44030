// The exact optimizer pipeline: apply the always-profitable rules to a fixpoint, try each candidate of the
// backend-dependent rules under a measurement, then check the result numerically on ONNX Runtime and
// refuse to hand back a model whose outputs moved beyond the tolerance.
import type { Model, Node } from '../ir/graph.js';
import { encodeModel } from '../onnx/encode.js';
import type { Backend, HostTensor } from '../runtime/session.js';
import { timeModels } from '../runtime/timing.js';
import { decideFaster, type DecideOptions, type FasterDecision } from '../runtime/decide.js';
import { RebirthError, errorMessage } from '../errors.js';
import { cloneModel, findMatches, runPasses, type AnyRule, type Refusal } from './engine.js';
import { ALL_RULES } from './rules/index.js';
import { DEFAULT_TOLERANCE, randomFeeds, verifyModels, type Verification } from './verify.js';

/** One candidate of a 'measure' rule: the model before, and with only this rewrite applied. */
export interface Candidate {
  rule: string;
  node: string;
  before: Model;
  after: Model;
}

export interface Decision {
  rule: string;
  node: string;
  accepted: boolean;
  /** Median latencies (on the decision's clock) when the default (measuring) decide was used. */
  beforeMs?: number;
  afterMs?: number;
  /** The measured decision (decideFaster) when the default decide was used. */
  measured?: Pick<FasterDecision, 'ratio' | 'interval' | 'confidence' | 'rounds' | 'clock' | 'reason' | 'measuringMs'>;
}

/**
 * How the default decide measures a candidate: decideFaster (src/runtime/decide.ts), paired interleaved
 * rounds until a distribution-free interval of the median speed-up settles the question, at most `maxRounds`.
 */
export interface MeasureOptions extends DecideOptions {
  /** Cap on paired rounds; kept as an alias of `maxRounds` (default 30). */
  runs?: number;
  /** Untimed rounds first (default 3). */
  warmup?: number;
  /** Required relative gain to accept a candidate; an alias of `minGain` (default 0.03: 3% faster). */
  minSpeedup?: number;
}

export interface OptimizeOptions {
  /** Rules to use, by name (or as rule objects, for rules defined elsewhere); default: all. */
  rules?: ReadonlyArray<string | AnyRule>;
  /** Backend for verification and measurements (default 'node'). */
  backend?: Backend;
  /** Intra-op threads for measurements (default 1). */
  threads?: number;
  /** Run both models on ORT and compare outputs (default true). */
  verify?: boolean;
  /** Relative tolerance of the verification (default 1e-4). */
  tolerance?: number;
  /** Return every refused match with its reason, and declined candidates (default false). */
  explain?: boolean;
  /** Return the model even when verification fails or cannot run (default false: throw). */
  force?: boolean;
  /** Step cap of the fixpoint (default 10000). */
  maxSteps?: number;
  /** Extra verification input sets (feeds by input name). */
  inputs?: ReadonlyArray<Record<string, HostTensor>>;
  /** Seed of the random verification and measurement inputs (default 0). */
  seed?: number;
  /** Sizes of symbolic input dims for random inputs (default 1). */
  dims?: Readonly<Record<string, number>>;
  /** Verdict on a candidate of a 'measure' rule; default: time both models on the backend. */
  decide?: (candidate: Candidate) => boolean | Promise<boolean>;
  measure?: MeasureOptions;
}

export interface OptimizeResult {
  model: Model;
  /** Firings per rule. */
  rules: Record<string, number>;
  nodesBefore: number;
  nodesAfter: number;
  verification: Verification;
  /** With `explain`: matches refused, with reasons. */
  refusals: Refusal[];
  /** Candidates of 'measure' rules and what was decided. */
  decisions: Decision[];
  /** True when the step cap stopped the fixpoint. */
  capped: boolean;
}

export function selectRules(names: ReadonlyArray<string | AnyRule> | undefined): AnyRule[] {
  if (!names) return [...ALL_RULES];
  return names.map((n) => {
    if (typeof n !== 'string') return n;
    const r = ALL_RULES.find((x) => x.name === n);
    if (!r) throw new RebirthError(`unknown rewrite rule '${n}'; known rules: ${ALL_RULES.map((x) => x.name).join(', ')}`);
    return r;
  });
}

export interface LatencyOptions {
  backend?: Backend;
  threads?: number;
  runs?: number;
  warmup?: number;
}

/**
 * Median wall time of each model, in milliseconds, from interleaved runs (timeModels in
 * src/runtime/timing.ts, which every latency figure shares). For reports; decisions use decideFaster.
 */
export async function compareLatency(models: readonly Model[], feeds: Record<string, HostTensor>, options: LatencyOptions = {}): Promise<number[]> {
  const named = Object.fromEntries(models.map((m, i) => [`m${i}`, encodeModel(m, { external: 'inline' })]));
  const stats = await timeModels(named, {
    backend: options.backend ?? 'node', threads: options.threads ?? 1, optLevel: 'all', feeds,
    ...(options.runs !== undefined ? { runs: options.runs } : {}), ...(options.warmup !== undefined ? { warmup: options.warmup } : {}),
  });
  return models.map((_, i) => stats[`m${i}`]?.medianMs ?? NaN);
}

function addFirings(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

/**
 * Optimize a copy of `model` with exact rewrites. The input model is not modified. Throws RebirthError
 * when verification fails or cannot run, unless `force`.
 */
export async function optimizeModel(input: Model, options: OptimizeOptions = {}): Promise<OptimizeResult> {
  const rules = selectRules(options.rules);
  const backend = options.backend ?? 'node';
  const model = cloneModel(input);
  const nodesBefore = input.graph.nodes.length;
  const exact = rules.filter((r) => r.policy === 'always');
  const measured = rules.filter((r) => r.policy === 'measure');
  const firings: Record<string, number> = Object.fromEntries(rules.map((r) => [r.name, 0]));
  const refusals: Refusal[] = [];
  const decisions: Decision[] = [];

  const first = runPasses(model, exact, { maxSteps: options.maxSteps });
  addFirings(firings, first.firings);
  let capped = first.capped;
  let lastRefusals = first.refusals;

  if (measured.length > 0 && !capped) {
    let feeds: Record<string, HostTensor> | undefined;
    const decide = options.decide ?? (async (c: Candidate): Promise<boolean> => {
      feeds ??= options.inputs?.[0] ?? randomFeeds(c.before, options.seed ?? 0, options.dims);
      const m = options.measure ?? {};
      const d = await decideFaster(encodeModel(c.before, { external: 'inline' }), encodeModel(c.after, { external: 'inline' }), {
        ...m, backend, threads: options.threads ?? 1, optLevel: 'all', feeds,
        ...(m.minSpeedup !== undefined && m.minGain === undefined ? { minGain: m.minSpeedup } : {}),
        ...(m.runs !== undefined && m.maxRounds === undefined ? { maxRounds: m.runs } : {}),
      });
      decisions.push({
        rule: c.rule, node: c.node, accepted: d.keep, beforeMs: d.baselineMs, afterMs: d.candidateMs,
        measured: { ratio: d.ratio, interval: d.interval, confidence: d.confidence, rounds: d.rounds, clock: d.clock, reason: d.reason, measuringMs: d.measuringMs },
      });
      return d.keep;
    });
    for (const rule of measured) {
      const { matches, refusals: refused } = findMatches(model, rule);
      refusals.push(...refused);
      const approved = new Set<string>();
      for (const { node, id } of matches) {
        const key = node.outputs[0] ?? '';
        const trial = cloneModel(model);
        const r = runPasses(trial, [rule], { maxSteps: 1, only: (n: Node) => n.outputs[0] === key });
        if (!r.changed) continue;
        const decided = decisions.length;
        const ok = await decide({ rule: rule.name, node: id, before: model, after: trial });
        if (decisions.length === decided) decisions.push({ rule: rule.name, node: id, accepted: ok });
        if (ok) approved.add(key);
        else refusals.push({ rule: rule.name, node: id, reason: describeDecline(decisions[decisions.length - 1]) });
      }
      if (approved.size > 0) {
        const r = runPasses(model, [rule], { maxSteps: options.maxSteps, only: (n: Node) => approved.has(n.outputs[0] ?? '') });
        addFirings(firings, r.firings);
        capped ||= r.capped;
      }
    }
    if (measured.some((r) => (firings[r.name] ?? 0) > 0) && !capped) {
      const again = runPasses(model, exact, { maxSteps: options.maxSteps });
      addFirings(firings, again.firings);
      capped ||= again.capped;
      lastRefusals = again.refusals;
    }
  }
  refusals.unshift(...lastRefusals);

  const changed = Object.values(firings).some((v) => v > 0);
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE;
  let verification: Verification;
  if (!changed) {
    verification = { checked: false, passed: true, maxAbsError: 0, maxRelError: 0, tolerance, runs: 0, perOutput: [], note: 'no rule fired: the model is unchanged' };
  } else if (options.verify === false) {
    verification = { checked: false, passed: false, maxAbsError: NaN, maxRelError: NaN, tolerance, runs: 0, perOutput: [], note: 'verification switched off' };
  } else {
    try {
      verification = await verifyModels(input, model, {
        backend, tolerance, ...(options.inputs ? { inputs: options.inputs } : {}),
        ...(options.seed !== undefined ? { seed: options.seed } : {}), ...(options.dims ? { dims: options.dims } : {}),
      });
    } catch (e) {
      if (!options.force) throw new RebirthError(`cannot verify the optimized model: ${errorMessage(e)}; pass force to keep it unverified`, { cause: e });
      verification = { checked: false, passed: false, maxAbsError: NaN, maxRelError: NaN, tolerance, runs: 0, perOutput: [], note: `verification could not run: ${errorMessage(e)}` };
    }
    if (verification.checked && !verification.passed && !options.force) {
      const worst = verification.perOutput.reduce((a, b) => (b.maxRelError > a.maxRelError ? b : a));
      throw new RebirthError(
        `optimized model fails verification: output '${worst.name}' differs by ${worst.maxRelError.toExponential(2)} relative (tolerance ${tolerance})` +
        `${worst.note ? ` (${worst.note})` : ''}; report this, or rerun with fewer rules (or force to keep it)`,
      );
    }
  }
  return {
    model,
    rules: firings,
    nodesBefore,
    nodesAfter: model.graph.nodes.length,
    verification,
    refusals: options.explain ? refusals : [],
    decisions,
    capped,
  };
}

function describeDecline(d: Decision | undefined): string {
  if (d?.measured) return `measured: ${d.measured.reason}`;
  if (d?.beforeMs !== undefined && d.afterMs !== undefined) {
    return `measured no gain: ${d.afterMs.toFixed(3)} ms with the rewrite vs ${d.beforeMs.toFixed(3)} ms without`;
  }
  return 'declined by the decide hook';
}
