/**
 * The exact folds that run before merging and decomposing: the ones `rebirth optimize` makes that remove
 * non-tensor layers without changing the function. A PyTorch export keeps a BatchNormalization after
 * every conv (torchvision's BasicConv2d: conv -> bn -> relu); a streamline block cannot absorb one, and
 * a BN between a conv and its ReLU hides the branch structure, so merging folds first. Tucker folds too:
 * a BN folded into its conv is decomposed with it instead of being left as a separate layer.
 *
 * Rules (src/rewrite/rules): remove-identity (Identity, inference Dropout, no-op Pad/Reshape/Transpose/
 * Cast), fold-batchnorm, fold-scale (per-channel Mul/Add/Sub/Div after a conv), fold-pad (explicit zero
 * Pad into the conv's pads). Not the other two rules of `rebirth optimize`: horizontal-fusion would fuse
 * an Inception module's 1x1 convs into one conv + Split, hiding the branches merging needs, and it is a
 * measured rule (per backend); merge-linear-convs changes which tensor layers exist, which is what
 * merging and decomposing decide. Run `rebirth optimize` afterwards for those.
 *
 * `foldForMerge` verifies each rule's folds on ONNX Runtime as `rebirth optimize` does (seeded random
 * inputs, every graph output, relative tolerance 1e-4) and reports per rule the count and the largest
 * error; `foldExact` applies the same rules without running anything (for the synchronous planners).
 * With `keepDropout` (the retraining pipelines) Dropout stays: the trainer runs it in training mode.
 * Every value the folded model computes exists in the original under the same name with the same
 * contents (a folded BN's conv writes the BN's output name; a removed identity's readers read its input),
 * so block targets and distillation against the original model still line up.
 */
import type { Model, Node } from '../ir/graph.js';
import { RebirthError, errorMessage } from '../errors.js';
import { cloneModel, runPasses, type AnyRule, type PassOptions } from '../rewrite/engine.js';
import { foldBatchNorm, foldPad, foldScale, removeIdentity } from '../rewrite/rules/index.js';
import { DEFAULT_TOLERANCE, feedInputs, verifyModels, type Verification } from '../rewrite/verify.js';
import type { Backend } from '../runtime/session.js';

/**
 * In the order they are tried. Identities first: torch exports equal initializers once and hands out the
 * copies through Identity nodes (the full torchvision GoogLeNet has 194, BN parameters among them), and a
 * BN whose statistics come from a node is not a constant to fold until the Identity is gone.
 */
export const MERGE_FOLD_RULES: readonly AnyRule[] = [removeIdentity, foldBatchNorm, foldScale, foldPad];

export interface FoldReport {
  /** Rule name, as `rebirth optimize --rules` takes it. */
  rule: string;
  /** Rewrites made. */
  count: number;
  /** Whether the model was run on ONNX Runtime before and after this rule's folds. */
  verified: boolean;
  /** Largest absolute and relative (to the output's largest magnitude) output difference, when verified. */
  maxAbsError?: number;
  maxRelError?: number;
}

export interface FoldOptions {
  /** Default 'node'. */
  backend?: Backend;
  /** Largest accepted relative error per output (default 1e-4, as `rebirth optimize`). */
  tolerance?: number;
  /**
   * Sizes of symbolic input dims for the verification inputs, by dim name. Default: 1 for the first
   * (batch) axis and 64 for any other, so a model with dynamic height and width still runs.
   */
  dims?: Readonly<Record<string, number>>;
  /** Seed of the verification inputs (default 0). */
  seed?: number;
  /**
   * Leave Dropout nodes in place (default false). Set when the model is retrained afterwards: the trainer
   * runs Dropout in training mode, so removing it would change the retraining, not just the graph.
   */
  keepDropout?: boolean;
}

export interface FoldResult {
  /** A copy of the input with the folds applied (the input itself when nothing folded). */
  model: Model;
  /** Rules that fired, in the order they first fired. */
  folds: FoldReport[];
}

/** The folds without verification (they are exact by construction and each rule is tested on ORT). */
export function foldExact(model: Model, options: Pick<FoldOptions, 'keepDropout'> = {}): FoldResult {
  const stages = foldStages(model, options);
  return { model: stages[stages.length - 1]?.after ?? model, folds: summarize(stages, new Map()) };
}

/**
 * The folds, each rule's checked on ONNX Runtime against the model before it (the same stages as
 * `foldExact`, so both give the same model). Throws a RebirthError when a fold changes the outputs beyond
 * the tolerance or the models cannot be run.
 */
export async function foldForMerge(model: Model, options: FoldOptions = {}): Promise<FoldResult> {
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE;
  const dims = { ...defaultDims(model), ...options.dims };
  const stages = foldStages(model, options);
  const checks = new Map<FoldStage, Verification>();
  for (const stage of stages) {
    let v: Verification;
    try {
      v = await verifyModels(stage.before, stage.after, { backend: options.backend ?? 'node', tolerance, dims, ...(options.seed !== undefined ? { seed: options.seed } : {}) });
    } catch (e) {
      throw new RebirthError(`cannot verify the ${stage.rule} folds on ONNX Runtime: ${errorMessage(e)}; fix the model or merge without folding (fold: false, --no-fold)`, { cause: e });
    }
    if (!v.passed) {
      const worst = v.perOutput.reduce((a, b) => (b.maxRelError > a.maxRelError ? b : a));
      throw new RebirthError(`the ${stage.rule} folds change output '${worst.name}' by ${worst.maxRelError.toExponential(2)} relative (tolerance ${tolerance})${worst.note ? ` (${worst.note})` : ''}; report this, or merge without folding (fold: false, --no-fold)`);
    }
    checks.set(stage, v);
  }
  return { model: stages[stages.length - 1]?.after ?? model, folds: summarize(stages, checks) };
}

interface FoldStage {
  rule: string;
  before: Model;
  after: Model;
  steps: number;
}

/**
 * One rule at a time to its fixpoint, in MERGE_FOLD_RULES order, each on a copy of the previous stage's
 * model; rounds repeat while a rule fires (a fold can enable another: an Identity between a conv and its
 * BN hides the BN until it is removed).
 */
function foldStages(model: Model, options: Pick<FoldOptions, 'keepDropout'>): FoldStage[] {
  const stages: FoldStage[] = [];
  let current = model;
  for (let round = 0; round < MERGE_FOLD_RULES.length; round++) {
    let fired = false;
    for (const rule of MERGE_FOLD_RULES) {
      const next = cloneModel(current);
      const r = runPasses(next, [rule], passOptions(options));
      if (!r.changed) continue;
      fired = true;
      stages.push({ rule: rule.name, before: current, after: next, steps: r.steps });
      current = next;
    }
    if (!fired) break;
  }
  return stages;
}

/** Per rule, in the order the rules first fired: total count and, when every stage was checked, the largest errors. */
function summarize(stages: readonly FoldStage[], checks: ReadonlyMap<FoldStage, Verification>): FoldReport[] {
  const reports = new Map<string, FoldReport>();
  for (const stage of stages) {
    const v = checks.get(stage);
    const prev = reports.get(stage.rule);
    const verified = v !== undefined && (prev?.verified ?? true);
    reports.set(stage.rule, {
      rule: stage.rule, count: (prev?.count ?? 0) + stage.steps, verified,
      ...(verified && v ? { maxAbsError: Math.max(prev?.maxAbsError ?? 0, v.maxAbsError), maxRelError: Math.max(prev?.maxRelError ?? 0, v.maxRelError) } : {}),
    });
  }
  return [...reports.values()];
}

/** Dropout is remove-identity's root node, so keeping it is a filter on roots (the other rules' roots are BN, Mul ..., Pad). */
function passOptions(options: Pick<FoldOptions, 'keepDropout'>): PassOptions {
  return options.keepDropout ? { only: (node: Node) => node.opType !== 'Dropout' } : {};
}

/** 1 for a symbolic first axis (the batch), 64 for other symbolic axes (dynamic height and width). */
function defaultDims(model: Model): Record<string, number> {
  const dims: Record<string, number> = {};
  for (const v of feedInputs(model)) {
    (v.shape ?? []).forEach((d, axis) => {
      if (typeof d === 'string' && !(d in dims)) dims[d] = axis === 0 ? 1 : 64;
    });
  }
  return dims;
}

/** One line for the CLI: "folded first (exact, verified on ORT): fold-batchnorm x21 (max rel error 9.4e-7)". */
export function describeFolds(folds: readonly FoldReport[]): string {
  if (folds.length === 0) return 'folds: none needed';
  const parts = folds.map((f) => `${f.rule} x${f.count}${f.verified ? ` (max abs error ${(f.maxAbsError ?? 0).toExponential(1)}, rel ${(f.maxRelError ?? 0).toExponential(1)})` : ' (not verified)'}`);
  return `folded first (exact${folds.every((f) => f.verified) ? ', verified on ONNX Runtime' : ''}): ${parts.join(', ')}`;
}
