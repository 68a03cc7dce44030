import { optimizeModel } from '../../rewrite/optimize.js';
import { ALL_RULES } from '../../rewrite/rules/index.js';
import { encodeModel } from '../../onnx/encode.js';
import { saveModel } from '../../onnx/file.js';
import { compareLatency } from '../../rewrite/optimize.js';
import { randomFeeds } from '../../rewrite/verify.js';
import { formatTable } from '../../util/format.js';
import { RebirthError } from '../../errors.js';
import { resolveModel } from '../models.js';
import { INPUT_SHAPE_OPTION, inputShapeArgs } from '../input-shape.js';
import { readInputs } from '../inputs.js';
import { checkOutput, optChoice, optFlag, optInt, optNumber, optString, positional, printJson, type Command } from '../command.js';
import { PLAN_OPTIONS, PLAN_USAGE, planFlags, planJson, planLog, planText } from '../plan-flags.js';
import { planModel, type RuntimePlan } from '../../plan/plan.js';

export const optimizeCommand: Command = {
  name: 'optimize',
  summary: 'exact folds (BatchNorm, Scale, Pad, identities, linear convs, horizontal fusion), verified on ONNX Runtime',
  usage: `rebirth optimize MODEL [--input-shape NAME=D1,D2,...] -o OUT [--rules a,b] [--backend node|wasm] [--threads N] [--inputs X.npy] [--tolerance 1e-4] [--force] ${PLAN_USAGE} [--runs N] [--explain] [--json]`,
  options: {
    ...INPUT_SHAPE_OPTION,
    ...PLAN_OPTIONS, runs: { type: 'string' },
    output: { type: 'string', short: 'o' }, rules: { type: 'string' }, backend: { type: 'string' }, threads: { type: 'string' },
    inputs: { type: 'string' }, tolerance: { type: 'string' }, force: { type: 'boolean' }, explain: { type: 'boolean' }, json: { type: 'boolean' },
  },
  async run(args) {
    const spec = positional(args, 0, 'MODEL', optimizeCommand);
    const out = optString(args, 'output');
    if (!out) throw new RebirthError(`rebirth optimize: missing -o OUT; usage: ${optimizeCommand.usage}`);
    const known = ALL_RULES.map((r) => r.name);
    const rules = optString(args, 'rules')?.split(',').map((r) => r.trim()).filter(Boolean);
    for (const r of rules ?? []) if (!known.includes(r)) throw new RebirthError(`--rules: unknown rule '${r}'; rules: ${known.join(', ')}`);
    const backend = optChoice(args, 'backend', ['node', 'wasm'] as const, 'node');
    const threads = optInt(args, 'threads', 1, { min: 1, max: 64 });
    if (!spec.startsWith('zoo:')) checkOutput(out, [spec]);
    const { model, file } = resolveModel(spec, inputShapeArgs(args, 'run'));
    const inputsSpec = optString(args, 'inputs');
    const target = planFlags(args);
    if (!target && args.values.runs !== undefined) throw new RebirthError('--runs needs --target (it caps the rounds of each plan decision)');
    const common = {
      ...(rules ? { rules } : {}), backend, threads,
      tolerance: optNumber(args, 'tolerance', 1e-4, { min: 0 }),
      force: optFlag(args, 'force'), explain: optFlag(args, 'explain'),
      ...(inputsSpec ? { inputs: [readInputs(inputsSpec, model)] } : {}),
    };
    let plan: RuntimePlan | undefined;
    let decide: ((c: { node: string }) => boolean) | undefined;
    if (target && (rules === undefined || rules.includes('horizontal-fusion'))) {
      // The exact rules first (none measured), then the fusions planned on the target in context; the
      // final pass applies exactly the planned ones and verifies the result as always.
      const exact = await optimizeModel(model, { ...common, verify: false, decide: () => false });
      plan = await planModel(exact.model, {
        target: target.target, families: ['fusion'], fold: false, threads,
        ...(target.budget ? { budget: target.budget } : {}), cache: target.cache,
        decide: { maxRounds: Math.max(3, optInt(args, 'runs', 30, { min: 1 })) }, ...(optFlag(args, 'json') ? {} : { log: planLog }),
      });
      const kept = new Set(plan.kept.map((k) => k.name));
      decide = (c) => kept.has(`fusion:${c.node}`);
    }
    const result = await optimizeModel(model, { ...common, ...(decide ? { decide } : {}) });
    const feeds = randomFeeds(model, 0);
    const [before, after] = await compareLatency([model, result.model], feeds, { backend, threads });
    saveModel(result.model, out, { protect: file ? [file] : [] });
    const report = {
      rules: result.rules, nodesBefore: result.nodesBefore, nodesAfter: result.nodesAfter,
      latencyMs: { before, after }, verification: result.verification,
      ...(optFlag(args, 'explain') ? { refusals: result.refusals, decisions: result.decisions } : {}),
      ...(plan ? { plan: planJson(plan) } : {}),
      output: out, bytes: encodeModel(result.model).byteLength,
    };
    if (optFlag(args, 'json')) printJson(report);
    else {
      const fired = Object.entries(result.rules).filter(([, n]) => n > 0);
      const v = result.verification;
      process.stdout.write([
        fired.length ? formatTable(['rule', 'firings'], fired) : 'no rule fired: the model is unchanged',
        '',
        `nodes ${result.nodesBefore} -> ${result.nodesAfter}; latency (${backend}, ${threads} thread(s)) ${before?.toFixed(2)} ms -> ${after?.toFixed(2)} ms`,
        v.checked ? `verification: max abs error ${v.maxAbsError.toExponential(2)}, max rel error ${v.maxRelError.toExponential(2)} (tolerance ${v.tolerance}) ${v.passed ? 'passed' : 'FAILED (written because of --force)'}` : `verification: ${v.note ?? 'not run'}`,
        ...(plan ? planText(plan, optFlag(args, 'explain')) : []),
        ...(optFlag(args, 'explain') ? ['', ...result.refusals.map((r) => `refused ${r.rule} at '${r.node}': ${r.reason}`)] : []),
        `wrote ${out}`,
      ].join('\n') + '\n');
    }
  },
};
