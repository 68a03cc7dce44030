/**
 * Training throughput of googlenet-mini (batch 64, 2 threads): rebirth's generated ONNX training graph on
 * onnxruntime-node vs PyTorch CPU training the same ONNX graph (bench/torch_train.py), in one run.
 * Prints images/s of both, the ratio, and where rebirth's step time goes (ORT kernels by op type,
 * feeding/copies, optimizer update in JS).
 * usage: npx tsx bench/train-throughput.ts [--model FILE] [--steps 30] [--batch 64] [--threads 2]
 */
import { parseArgs } from 'node:util';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { buildZooModel } from '../src/zoo/index.js';
import { loadModel, saveModel } from '../src/onnx/file.js';
import { encodeModel } from '../src/onnx/encode.js';
import { buildTrainingGraph } from '../src/autodiff/training-graph.js';
import { Session, type HostTensor } from '../src/runtime/session.js';
import { profileModel } from '../src/runtime/profile.js';
import { Optimizer } from '../src/train/optimizers.js';
import { floatParamNames, readParams } from '../src/train/params.js';
import { formatTable } from '../src/util/format.js';

const { values } = parseArgs({ options: { model: { type: 'string' }, steps: { type: 'string' }, batch: { type: 'string' }, threads: { type: 'string' } } });
const steps = Number(values.steps ?? 30);
const B = Number(values.batch ?? 64);
const threads = Number(values.threads ?? 2);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-bench-train-'));
const file = values.model ?? path.join(dir, 'googlenet-mini.onnx');
if (!values.model) saveModel(buildZooModel('googlenet-mini', { seed: 1 }), file);
const model = loadModel(file);

const trainable = floatParamNames(model);
const tg = buildTrainingGraph(model, { loss: { kind: 'cross-entropy' }, trainable, seed: 1 });
const session = await Session.create(encodeModel(tg.model), { threads });
const params = readParams(model);
const [, c, h, w] = (model.graph.inputs[0]?.shape ?? []).map((d) => (typeof d === 'number' ? d : 1));
const x = new Float32Array(B * (c ?? 1) * (h ?? 28) * (w ?? 28)).map((_, i) => (i % 255) / 255);
const feedsFor = (): Record<string, HostTensor> => {
  const f: Record<string, HostTensor> = {
    [tg.inputName ?? 'data']: { type: 'float32', dims: [B, c ?? 1, h ?? 28, w ?? 28], data: x },
    [tg.labelsName ?? 'labels']: { type: 'int64', dims: [B], data: BigInt64Array.from({ length: B }, (_, i) => BigInt(i % 10)) },
  };
  if (tg.seedName) f[tg.seedName] = { type: 'int64', dims: [], data: BigInt64Array.of(1n) };
  for (const n of [...tg.paramInputs, ...tg.stateInputs]) f[n] = { type: 'float32', dims: model.graph.initializers.get(n)?.dims ?? [], data: params.get(n) as Float32Array };
  return f;
};
const opt = new Optimizer({ kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
const groups = new Map(trainable.map((n) => [n, { lrMult: 1, decayMult: 1 }]));
let runMs = 0;
let optMs = 0;
for (let i = 0; i < 5 + steps; i++) {
  const t0 = performance.now();
  const out = await session.run(feedsFor());
  const t1 = performance.now();
  const grads = new Map<string, Float32Array>();
  for (const [p, g] of Object.entries(tg.gradOutputs)) {
    const v = out[g];
    if (v?.type === 'float32') grads.set(p, v.data);
  }
  opt.step(params, grads, 0.01, groups);
  const t2 = performance.now();
  if (i >= 5) {
    runMs += t1 - t0;
    optMs += t2 - t1;
  }
}
await session.release();
const rebirthIps = (B * steps) / ((runMs + optMs) / 1000);

const torchOut = execFileSync('/usr/bin/python3', [path.join(import.meta.dirname, 'torch_train.py'), file, '--batch', String(B), '--threads', String(threads), '--steps', String(steps)], { encoding: 'utf8' });
const torch = JSON.parse(torchOut.trim().split('\n').pop() ?? '{}') as { imagesPerSecond: number; torch: string };

const prof = await profileModel(encodeModel(tg.model), { feeds: feedsFor(), threads, runs: 3, warmup: 2, profileRuns: 3 });
const byOp = new Map<string, number>();
for (const n of prof.nodes) byOp.set(n.opType, (byOp.get(n.opType) ?? 0) + n.ms);
const kernelMs = [...byOp.values()].reduce((a, b) => a + b, 0);

console.log(formatTable(['trainer', 'images/s', 'ms/step'], [
  ['rebirth (ORT node)', rebirthIps.toFixed(0), ((runMs + optMs) / steps).toFixed(1)],
  [`PyTorch ${torch.torch} CPU`, torch.imagesPerSecond.toFixed(0), ((1000 * B) / torch.imagesPerSecond).toFixed(1)],
]));
console.log(`ratio rebirth / PyTorch: ${(rebirthIps / torch.imagesPerSecond).toFixed(2)} (target >= 1.0)`);
console.log(`rebirth step: session.run ${(runMs / steps).toFixed(1)} ms (ORT kernels ~${kernelMs.toFixed(1)} ms when profiled, the rest is feeding/copies/scheduling), optimizer in JS ${(optMs / steps).toFixed(1)} ms`);
console.log(formatTable(['ORT kernel op', 'ms/step', 'share'], [...byOp.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12)
  .map(([op, ms]) => [op, ms.toFixed(1), `${((100 * ms) / kernelMs).toFixed(1)}%`])));
fs.rmSync(dir, { recursive: true, force: true });
