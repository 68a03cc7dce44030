/**
 * googlenet-mini's training step (batch 64) on onnxruntime-node under four thread settings, in one
 * process, interleaved: 2 threads with ORT's default spinning, 2 threads without spinning
 * (session.intra_op.allow_spinning = 0), 1 thread, and 2 data-parallel replicas of 1 thread each (worker
 * threads, half the batch each, outputs combined: src/train/step-runner.ts). Prints wall and process CPU
 * ms per step (all threads, workers included), images/s and the ratio to the default, with the load
 * average before and after. Uses onnxruntime-node directly for the first three because
 * src/runtime/session.ts has no spinning option.
 * usage: npx tsx bench/train-threads.ts [--rounds 8] [--steps 3] [--batch 64]
 */
import { parseArgs } from 'node:util';
import * as os from 'node:os';
import * as ort from 'onnxruntime-node';
import { buildZooModel } from '../src/zoo/index.js';
import { encodeModel } from '../src/onnx/encode.js';
import { buildTrainingGraph } from '../src/autodiff/training-graph.js';
import { floatParamNames, readParams } from '../src/train/params.js';
import { quantile } from '../src/util/stats.js';
import { formatTable } from '../src/util/format.js';
import { createStepRunner, stepLayout } from '../src/train/step-runner.js';
import type { HostTensor } from '../src/runtime/session.js';

const { values } = parseArgs({ options: { rounds: { type: 'string' }, steps: { type: 'string' }, batch: { type: 'string' } } });
const rounds = Number(values.rounds ?? 8);
const steps = Number(values.steps ?? 3);
const B = Number(values.batch ?? 64);
const loadavg = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const loadBefore = loadavg();

const model = buildZooModel('googlenet-mini', { seed: 1 });
const trainable = floatParamNames(model);
const tg = buildTrainingGraph(model, { loss: { kind: 'cross-entropy' }, trainable, seed: 1 });
const bytes = encodeModel(tg.model);
const params = readParams(model);
const feeds: Record<string, ort.Tensor> = {
  [tg.inputName ?? 'data']: new ort.Tensor('float32', new Float32Array(B * 28 * 28).map((_, i) => (i % 255) / 255), [B, 1, 28, 28]),
  [tg.labelsName ?? 'labels']: new ort.Tensor('int64', BigInt64Array.from({ length: B }, (_, i) => BigInt(i % 10)), [B]),
};
if (tg.seedName) feeds[tg.seedName] = new ort.Tensor('int64', BigInt64Array.of(1n), []);
for (const n of [...tg.paramInputs, ...tg.stateInputs]) {
  feeds[n] = new ort.Tensor('float32', params.get(n) as Float32Array, model.graph.initializers.get(n)?.dims ?? []);
}

const configs: { name: string; options: ort.InferenceSession.SessionOptions }[] = [
  { name: '2 threads, spinning (ORT default)', options: { intraOpNumThreads: 2 } },
  { name: '2 threads, no spinning', options: { intraOpNumThreads: 2, extra: { session: { intra_op: { allow_spinning: '0' } } } } },
  { name: '1 thread', options: { intraOpNumThreads: 1 } },
];
const ortSessions = await Promise.all(configs.map((c) => ort.InferenceSession.create(bytes, {
  ...c.options, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', logSeverityLevel: 3,
})));
const hostFeeds: Record<string, HostTensor> = {};
for (const [k, t] of Object.entries(feeds)) hostFeeds[k] = { type: t.type, dims: [...t.dims], data: t.data } as HostTensor;
const replicas = await createStepRunner(bytes, {
  threads: 2, replicas: 2,
  layout: stepLayout(tg),
});
configs.push({ name: '2 data-parallel replicas x 1 thread', options: {} });
const sessions: Array<{ run: () => Promise<unknown>; release: () => Promise<void> }> = [
  ...ortSessions.map((s) => ({ run: () => s.run(feeds), release: () => s.release() })),
  { run: () => replicas.run(hostFeeds, B), release: () => replicas.release() },
];
const wall: number[][] = configs.map(() => []);
const cpu: number[][] = configs.map(() => []);
for (const s of sessions) for (let i = 0; i < 2; i++) await s.run();
for (let r = 0; r < rounds; r++) {
  // Alternate the order so no setting always runs right after another.
  const order = r % 2 === 0 ? [...sessions.keys()] : [...sessions.keys()].reverse();
  for (const i of order) {
    for (let k = 0; k < steps; k++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await sessions[i]?.run();
      wall[i]?.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu[i]?.push((c.user + c.system) / 1000);
    }
  }
}
for (const s of sessions) await s.release();

const base = quantile(wall[0] ?? [], 0.5);
console.log(`googlenet-mini training step, batch ${B} (session.run only); load average (1/5/15 min) before ${loadBefore}, after ${loadavg()}`);
console.log(formatTable(['intra-op setting', 'median ms/step', 'images/s', 'vs default', 'median CPU ms/step'], configs.map((c, i) => {
  const med = quantile(wall[i] ?? [], 0.5);
  return [c.name, med.toFixed(1), ((1000 * B) / med).toFixed(1), `${(base / med).toFixed(2)}x`, quantile(cpu[i] ?? [], 0.5).toFixed(1)];
})));
