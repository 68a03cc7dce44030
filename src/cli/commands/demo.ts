import { DEMO_EPOCHS, runDemo } from '../../pipeline/demo.js';
import { explainPlan } from '../../plan/explain.js';
import { formatPercent } from '../../util/format.js';
import { teacherPath } from '../../util/paths.js';
import { loadClassNames, loadPreprocess } from '../../data/preprocess.js';
import { RebirthError } from '../../errors.js';
import { DATA_OPTIONS, VALIDATION_OPTION, validationArg } from '../data.js';
import { INPUT_SHAPE_OPTION, inputShapeArgs, parseInputShapes } from '../input-shape.js';
import { resolveModel } from '../models.js';
import { PLAN_OPTIONS, PLAN_USAGE, planFlags } from '../plan-flags.js';
import { optFlag, optInt, optNumber, optString, printJson, type Command } from '../command.js';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'the main job: profile, merge, retrain, evaluate and report, on the committed Fashion-MNIST teacher or your model and images',
  usage: 'rebirth demo [--out DIR] [--model MODEL [--input-shape NAME=D1,D2,...]] [--data fashion-mnist|DIR|X.npy[,Y.npy]] [--eval-data DIR] [--preprocess unit|imagenet|caffe|FILE.json] ' +
    `[--classes FILE] [--workers N] [--epochs N] [--validation N] [--limit N] [--runs N] [--no-googlenet] ${PLAN_USAGE} [--json]`,
  options: {
    out: { type: 'string' }, model: { type: 'string' }, teacher: { type: 'string' }, data: { type: 'string' }, epochs: { type: 'string' }, ...VALIDATION_OPTION, limit: { type: 'string' },
    runs: { type: 'string' }, 'no-googlenet': { type: 'boolean' }, threads: { type: 'string' }, json: { type: 'boolean' }, ...DATA_OPTIONS,
    ...PLAN_OPTIONS, ...INPUT_SHAPE_OPTION,
  },
  async run(args) {
    const model = optString(args, 'model');
    const teacherFlag = optString(args, 'teacher');
    if (model && teacherFlag) throw new RebirthError('rebirth demo: --model and --teacher name the same thing; pass one');
    const teacher = model ?? teacherFlag;
    const plan = planFlags(args);
    // The demo retrains, so bound inputs keep a free batch dim (as `rebirth merge --retrain` binds them).
    const teacherModel = parseInputShapes(args) ? resolveModel(teacher ?? teacherPath(), inputShapeArgs(args, 'train')).model : undefined;
    const data = optString(args, 'data');
    const evalData = optString(args, 'eval-data');
    const pre = optString(args, 'preprocess');
    const classes = optString(args, 'classes');
    const limit = args.values.limit === undefined ? undefined : optInt(args, 'limit', 0, { min: 1 });
    const s = await runDemo({
      outDir: optString(args, 'out') ?? 'rebirth-demo',
      ...(teacher ? { teacher } : {}), ...(teacherModel ? { teacherModel } : {}), ...(data && data !== 'fashion-mnist' ? { data } : {}), ...(limit ? { limit } : {}),
      ...(evalData ? { evalData } : {}), ...(args.values.workers === undefined ? {} : { workers: optInt(args, 'workers', 2, { min: 1, max: 64 }) }), ...(pre ? { preprocess: loadPreprocess(pre) } : {}), ...(classes ? { classNames: loadClassNames(classes) } : {}),
      // --runs given also caps the plan's rounds per decision, as on `rebirth merge --target`; left out, the
      // demo's own default (30) times latency and the plan keeps the decision rule's default.
      // --validation 0 chooses the epoch on the evaluation data (the default holds training images out).
      ...validationArg(args),
      epochs: optNumber(args, 'epochs', DEMO_EPOCHS, { min: 0.01 }), ...(args.values.runs === undefined ? {} : { runs: optInt(args, 'runs', 30, { min: 1 }) }),
      threads: optInt(args, 'threads', 2, { min: 1, max: 64 }), googlenet: !optFlag(args, 'no-googlenet'),
      ...(plan ? { target: plan.target, ...(plan.budget ? { budget: plan.budget } : {}), planCache: plan.cache } : {}),
    });
    if (optFlag(args, 'json')) printJson(s);
    else {
      process.stdout.write([
        `teacher top-1 ${formatPercent(s.accuracy.teacher, 2)} -> merged ${formatPercent(s.accuracy.merged, 2)} (${s.merges.length ? `${s.merges.length} merges: ${s.merges.join(', ')}` : 'no merge'}${s.target ? `; planned on ${s.target}` : ''})`,
        `latency node ${s.latencyMs.node.before.toFixed(3)} -> ${s.latencyMs.node.after.toFixed(3)} ms (${s.latencyMs.node.speedup.toFixed(2)}x), wasm ${s.latencyMs.wasm.before.toFixed(3)} -> ${s.latencyMs.wasm.after.toFixed(3)} ms (${s.latencyMs.wasm.speedup.toFixed(2)}x)`,
        ...(['node', 'wasm'] as const).flatMap((b) => {
          const g = s.googlenet?.[b];
          const x = (v: number): string => `${((g?.original ?? NaN) / v).toFixed(2)}x`;
          return g ? [`googlenet 224 on ${b}: Tucker ${x(g.tucker)}, Merge ${x(g.merged)}, Merge+Tucker ${x(g.mergedTucker)} faster than the original`] : [];
        }),
        // The whole plan, one line per candidate: the report's table in text.
        ...(s.plan ? explainPlan(s.plan) : []),
        `wrote ${s.output}, ${s.report} (${s.seconds.toFixed(0)} s)`,
      ].join('\n') + '\n');
    }
  },
};
