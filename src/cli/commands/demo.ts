import { DEMO_EPOCHS, runDemo } from '../../pipeline/demo.js';
import { formatPercent } from '../../util/format.js';
import { optFlag, optInt, optNumber, optString, printJson, type Command } from '../command.js';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'the main job: profile, merge, retrain, evaluate and report on the committed Fashion-MNIST teacher',
  usage: 'rebirth demo [--out DIR] [--teacher MODEL] [--data DIR] [--epochs N] [--limit N] [--runs N] [--no-googlenet] [--json]',
  options: {
    out: { type: 'string' }, teacher: { type: 'string' }, data: { type: 'string' }, epochs: { type: 'string' }, limit: { type: 'string' },
    runs: { type: 'string' }, 'no-googlenet': { type: 'boolean' }, threads: { type: 'string' }, json: { type: 'boolean' },
  },
  async run(args) {
    const teacher = optString(args, 'teacher');
    const data = optString(args, 'data');
    const limit = args.values.limit === undefined ? undefined : optInt(args, 'limit', 0, { min: 1 });
    const s = await runDemo({
      outDir: optString(args, 'out') ?? 'rebirth-demo',
      ...(teacher ? { teacher } : {}), ...(data && data !== 'fashion-mnist' ? { dataDir: data } : {}), ...(limit ? { limit } : {}),
      epochs: optNumber(args, 'epochs', DEMO_EPOCHS, { min: 0.01 }), runs: optInt(args, 'runs', 30, { min: 1 }),
      threads: optInt(args, 'threads', 2, { min: 1, max: 64 }), googlenet: !optFlag(args, 'no-googlenet'),
    });
    if (optFlag(args, 'json')) printJson(s);
    else {
      process.stdout.write([
        `teacher top-1 ${formatPercent(s.accuracy.teacher, 2)} -> merged ${formatPercent(s.accuracy.merged, 2)} (${s.merges.length} merges: ${s.merges.join(', ')})`,
        `latency node ${s.latencyMs.node.before.toFixed(3)} -> ${s.latencyMs.node.after.toFixed(3)} ms (${s.latencyMs.node.speedup.toFixed(2)}x), wasm ${s.latencyMs.wasm.before.toFixed(3)} -> ${s.latencyMs.wasm.after.toFixed(3)} ms (${s.latencyMs.wasm.speedup.toFixed(2)}x)`,
        ...(['node', 'wasm'] as const).flatMap((b) => {
          const g = s.googlenet?.[b];
          const x = (v: number): string => `${((g?.original ?? NaN) / v).toFixed(2)}x`;
          return g ? [`googlenet 224 on ${b}: Tucker ${x(g.tucker)}, Merge ${x(g.merged)}, Merge+Tucker ${x(g.mergedTucker)} faster than the original`] : [];
        }),
        `wrote ${s.output}, ${s.report} (${s.seconds.toFixed(0)} s)`,
      ].join('\n') + '\n');
    }
  },
};
