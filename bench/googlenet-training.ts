/**
 * The training step the throughput benches time: googlenet-mini's generated training graph on
 * onnxruntime-node, fed the same inputs as the PyTorch peer (bench/torch_train.py: pixel (i mod 255) / 255,
 * labels i mod 10) and updated by SGD (momentum 0.9, Nesterov, weight decay 5e-4, lr 0.01) in JS, as
 * `rebirth train` does. Shared by bench/train-throughput.ts and bench/train-after-idle.ts.
 */
import { readFileSync } from 'node:fs';
import { buildZooModel } from '../src/zoo/index.js';
import { encodeModel } from '../src/onnx/encode.js';
import { buildTrainingGraph, type TrainingGraph } from '../src/autodiff/training-graph.js';
import type { HostTensor } from '../src/runtime/session.js';
import { createStepRunner, stepLayout, type StepRunner } from '../src/train/step-runner.js';
import { DEFAULT_REPLICAS, resolveReplicas } from '../src/train/trainer.js';
import { Optimizer } from '../src/train/optimizers.js';
import { floatParamNames, readParams } from '../src/train/params.js';
import { numel } from '../src/ir/tensor.js';

export interface GoogLeNetTraining {
  tg: TrainingGraph;
  /** Trainable parameter count, checked against the PyTorch peer's. */
  paramCount: number;
  /** Data-parallel replicas the session runs. */
  replicas: number;
  session: StepRunner;
  /** A step's feeds: the fixed batch and the current parameters. */
  feeds: () => Record<string, HostTensor>;
  /** The optimizer step on a session.run's gradient outputs. */
  update: (outputs: Record<string, HostTensor>) => void;
}

/**
 * googlenet-mini (seed 1) ready to train at `batch` on `threads` threads. `replicas` as `rebirth train
 * --replicas` takes it; undefined is the trainer's default, so a figure is what `rebirth train` does.
 */
export async function googlenetTraining(options: { batch: number; threads: number; replicas?: number | 'auto' }): Promise<GoogLeNetTraining> {
  const { batch: B, threads } = options;
  const model = buildZooModel('googlenet-mini', { seed: 1 });
  const trainable = floatParamNames(model);
  const params = readParams(model);
  const paramCount = trainable.reduce((a, n) => a + numel(model.graph.initializers.get(n)?.dims ?? []), 0);
  const tg = buildTrainingGraph(model, { loss: { kind: 'cross-entropy' }, trainable, seed: 1 });
  const replicas = resolveReplicas(options.replicas ?? DEFAULT_REPLICAS, {
    threads, batchSize: B, batchNormStats: tg.stateInputs.length > 0, scalarLoss: false,
  });
  const session = await createStepRunner(encodeModel(tg.model), { threads, replicas, layout: stepLayout(tg) });
  const [, c = 1, h = 28, w = 28] = (model.graph.inputs[0]?.shape ?? []).map((d) => (typeof d === 'number' ? d : 1));
  const x = new Float32Array(B * c * h * w).map((_, i) => (i % 255) / 255);
  const feeds = (): Record<string, HostTensor> => {
    const f: Record<string, HostTensor> = {
      [tg.inputName ?? 'data']: { type: 'float32', dims: [B, c, h, w], data: x },
      [tg.labelsName ?? 'labels']: { type: 'int64', dims: [B], data: BigInt64Array.from({ length: B }, (_, i) => BigInt(i % 10)) },
    };
    if (tg.seedName) f[tg.seedName] = { type: 'int64', dims: [], data: BigInt64Array.of(1n) };
    for (const n of [...tg.paramInputs, ...tg.stateInputs]) f[n] = { type: 'float32', dims: model.graph.initializers.get(n)?.dims ?? [], data: params.get(n) as Float32Array };
    return f;
  };
  const opt = new Optimizer({ kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
  const groups = new Map(trainable.map((n) => [n, { lrMult: 1, decayMult: 1 }]));
  const update = (outputs: Record<string, HostTensor>): void => {
    const grads = new Map<string, Float32Array>();
    for (const [p, g] of Object.entries(tg.gradOutputs)) {
      const v = outputs[g];
      if (v?.type === 'float32') grads.set(p, v.data);
    }
    opt.step(params, grads, 0.01, groups);
  };
  return { tg, paramCount, replicas, session, feeds, update };
}

/** Minor page faults of this process so far (all threads; field 10 of /proc/self/stat), NaN off Linux. */
export function minorFaults(): number {
  try {
    return Number((readFileSync('/proc/self/stat', 'utf8').split(') ')[1] ?? '').split(' ')[7]);
  } catch {
    return Number.NaN;
  }
}
