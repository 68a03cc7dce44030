/**
 * Data-parallel steps (src/train/step-runner.ts): replicas in worker threads, each on its share of the
 * batch, must give the one-session step's loss, gradients and logits (batch-mean losses), train to the
 * same weights, and refuse what they cannot split.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { floatTensor, tensorToFloat32 } from '../../src/ir/tensor.js';
import type { Model } from '../../src/ir/graph.js';
import type { Dataset } from '../../src/data/dataset.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { buildTrainingGraph, type TrainingGraph } from '../../src/autodiff/training-graph.js';
import { createStepRunner, shardSizes, stepLayout, type StepRunner } from '../../src/train/step-runner.js';
import { resolveReplicas, train, type TrainOptions } from '../../src/train/trainer.js';
import type { HostTensor } from '../../src/runtime/session.js';
import { Random } from '../../src/util/random.js';
import { RebirthError } from '../../src/errors.js';
import { diagonalPatches } from './fixtures.js';

/** Conv-ReLU-MaxPool-Conv-Gemm on 1x8x8: every example's loss depends on that example alone. */
function net(seed: number): Model {
  const rng = new Random(seed);
  const b = new GraphBuilder('dp');
  const init = (name: string, dims: number[], scale: number): string =>
    b.initializer(floatTensor(name, dims, Array.from({ length: dims.reduce((a, c) => a * c, 1) }, () => rng.normal() * scale)));
  const x = b.input('data', ['N', 1, 8, 8]);
  const h = b.op('Relu', [b.op('Conv', [x, init('c1_w', [4, 1, 3, 3], 0.5), init('c1_b', [4], 0.1)], { pads: [1, 1, 1, 1] })]);
  const p = b.op('MaxPool', [h], { kernel_shape: [2, 2], strides: [2, 2] });
  const h2 = b.op('Relu', [b.op('Conv', [p, init('c2_w', [6, 4, 3, 3], 0.3), init('c2_b', [6], 0.1)], { pads: [1, 1, 1, 1] })]);
  const f = b.op('Flatten', [h2]);
  const y = b.node('Gemm', [f, init('fc_w', [3, 96], 0.1), init('fc_b', [3], 0)], { transB: 1 }, { outputs: ['logits'] })[0] as string;
  b.output(y, ['N', 3]);
  return modelOf(b.graph);
}

const PARAMS = ['c1_w', 'c1_b', 'c2_w', 'c2_b', 'fc_w', 'fc_b'];

function feedsOf(model: Model, tg: TrainingGraph, batch: number, seed: number): Record<string, HostTensor> {
  const rng = new Random(seed);
  const feeds: Record<string, HostTensor> = {
    data: { type: 'float32', dims: [batch, 1, 8, 8], data: Float32Array.from({ length: batch * 64 }, () => rng.normal()) },
    labels: { type: 'int64', dims: [batch], data: BigInt64Array.from({ length: batch }, (_, i) => BigInt(i % 3)) },
  };
  for (const name of tg.paramInputs) {
    const t = model.graph.initializers.get(name)!;
    feeds[name] = { type: 'float32', dims: [...t.dims], data: Float32Array.from(tensorToFloat32(t)) };
  }
  return feeds;
}

function assertClose(a: HostTensor | undefined, b: HostTensor | undefined, what: string, rel = 1e-5): void {
  assert.ok(a && b, `${what}: missing`);
  assert.deepEqual(a.dims, b.dims, `${what}: shape`);
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < x.length; i++) {
    scale = Math.max(scale, Math.abs(x[i]!));
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
  }
  assert.ok(diff <= rel * Math.max(scale, 1e-6), `${what}: differs by ${diff} (largest value ${scale})`);
}

test('shardSizes: as even as possible, fewer replicas than examples when the batch is small', () => {
  assert.deepEqual(shardSizes(64, 2), [32, 32]);
  assert.deepEqual(shardSizes(5, 2), [3, 2]);
  assert.deepEqual(shardSizes(7, 3), [3, 2, 2]);
  assert.deepEqual(shardSizes(1, 3), [1]);
});

/** net(1)'s training graph, a batch of 5, and two runners of it: one session, and `replicas` replicas. */
async function runners(replicas: number): Promise<{ tg: TrainingGraph; feeds: Record<string, HostTensor>; one: StepRunner; many: StepRunner }> {
  const model = net(1);
  const tg = buildTrainingGraph(model, { loss: { kind: 'cross-entropy' }, trainable: PARAMS });
  const bytes = encodeModel(tg.model);
  const one = await createStepRunner(bytes, { threads: 1, layout: stepLayout(tg) });
  const many = await createStepRunner(bytes, { threads: replicas, replicas, layout: stepLayout(tg) });
  return { tg, feeds: feedsOf(model, tg, 5, 2), one, many };
}

/** The loss, every gradient and the logits of two steps agree. */
function assertSameStep(tg: TrainingGraph, a: Record<string, HostTensor>, b: Record<string, HostTensor>): void {
  assertClose(a[tg.lossOutput], b[tg.lossOutput], 'loss');
  for (const [param, grad] of Object.entries(tg.gradOutputs)) assertClose(a[grad], b[grad], `gradient of ${param}`);
  assertClose(a[tg.logitsOutput], b[tg.logitsOutput], 'logits');
}

test('two replicas give the one-session step: the loss, every gradient and the logits (uneven shards 3 + 2)', async () => {
  const { tg, feeds, one, many: two } = await runners(2);
  try {
    assert.deepEqual([...two.inputNames].sort(), [...one.inputNames].sort());
    const a = await one.run(feeds, 5);
    const b = await two.run(feeds, 5);
    assertSameStep(tg, a, b);
    // A second step on the same replicas (they stay alive between steps) gives the same again.
    assertClose(a[tg.lossOutput], (await two.run(feeds, 5))[tg.lossOutput], 'loss, second step');
  } finally {
    await one.release();
    await two.release();
  }
});

test('three replicas (shards 2 + 2 + 1) see parameters changed in place between steps, as the trainer changes them', async () => {
  const { tg, feeds, one, many: three } = await runners(3);
  try {
    const before = await three.run(feeds, 5);
    // The trainer's optimizer writes into the same arrays it feeds: the replicas must not keep the old values.
    const w = feeds['c2_w']!.data as Float32Array;
    for (let i = 0; i < w.length; i++) w[i] = w[i]! * 0.5 + 0.01;
    const a = await one.run(feeds, 5);
    const b = await three.run(feeds, 5);
    assert.notEqual(before[tg.lossOutput]!.data[0], b[tg.lossOutput]!.data[0], 'the loss moved with the parameters');
    assertSameStep(tg, a, b);
  } finally {
    await one.release();
    await three.release();
  }
});

/** Three classes of 8x8 images: a bright 3x3 patch at one of three places, plus noise. */
function patches(count: number, seed: number): Dataset {
  return diagonalPatches(count, seed, { size: 8, patch: 3, starts: [0, 2, 5], noise: 0.2 });
}

test('train() with replicas 2 ends at the weights of replicas 1 (SGD momentum, 2 epochs)', async () => {
  const options: TrainOptions = {
    epochs: 2, batchSize: 16, lr: 0.05, seed: 3, optimizer: { kind: 'sgd', momentum: 0.9 },
    schedule: { config: { kind: 'cosine' }, warmupSteps: 2 }, threads: 2, progress: false,
  };
  const data = patches(96, 4);
  const a = await train(net(5), data, { ...options, replicas: 1 });
  const b = await train(net(5), data, { ...options, replicas: 2 });
  for (const p of PARAMS) {
    const wa = a.model.graph.initializers.get(p)!;
    const wb = b.model.graph.initializers.get(p)!;
    const ta: HostTensor = { type: 'float32', dims: [...wa.dims], data: Float32Array.from(tensorToFloat32(wa)) };
    const tb: HostTensor = { type: 'float32', dims: [...wb.dims], data: Float32Array.from(tensorToFloat32(wb)) };
    assertClose(ta, tb, p, 1e-4);
  }
  const start = tensorToFloat32(net(5).graph.initializers.get('fc_w')!);
  assert.notDeepEqual(tensorToFloat32(b.model.graph.initializers.get('fc_w')!), start, 'the weights moved');
  assert.ok(Math.abs(a.history[1]!.loss - b.history[1]!.loss) < 1e-4, `epoch losses ${a.history[1]!.loss} vs ${b.history[1]!.loss}`);
});

test('refusals: an input that is not per-example and not shared, replicas below 1, a scalar loss', async () => {
  const model = net(1);
  const tg = buildTrainingGraph(model, { loss: { kind: 'cross-entropy' }, trainable: PARAMS });
  const bytes = encodeModel(tg.model);
  // Parameters left out of `shared` would be split by rows: c1_w has 4 rows for a batch of 5.
  const wrong = await createStepRunner(bytes, { threads: 2, replicas: 2, layout: { ...stepLayout(tg), shared: new Set() } });
  try {
    await assert.rejects(wrong.run(feedsOf(model, tg, 5, 2), 5), (e: unknown) => e instanceof RebirthError && /input 'c1_w' has shape \[4,1,3,3\] for a batch of 5; train with replicas 1/.test(e.message));
  } finally {
    await wrong.release();
  }
  await assert.rejects(createStepRunner(bytes, { replicas: 0, layout: stepLayout(tg) }), (e: unknown) => e instanceof RebirthError && /replicas must be an integer >= 1, got 0/.test(e.message));
  await assert.rejects(
    train(net(1), patches(32, 1), { epochs: 1, batchSize: 8, lr: 0.01, seed: 1, optimizer: { kind: 'sgd' }, schedule: { config: { kind: 'cosine' }, warmupSteps: 0 }, progress: false, replicas: 2, loss: { kind: 'scalar', output: 'logits' } }),
    (e: unknown) => e instanceof RebirthError && /needs batch-mean losses/.test(e.message),
  );
});

test("resolveReplicas: 'auto' splits only where the split step equals the one-session step; a number is taken as given", () => {
  const run = { threads: 2, batchSize: 64, batchNormStats: false, scalarLoss: false };
  assert.equal(resolveReplicas('auto', run), 2);
  assert.equal(resolveReplicas('auto', { ...run, threads: 4 }), 4);
  assert.equal(resolveReplicas('auto', { ...run, threads: 1 }), 1);
  assert.equal(resolveReplicas('auto', { ...run, batchNormStats: true }), 1, 'training-mode BatchNorm would normalize per share');
  assert.equal(resolveReplicas('auto', { ...run, scalarLoss: true }), 1);
  assert.equal(resolveReplicas('auto', { ...run, batchSize: 3 }), 1, 'fewer than 2 examples per replica');
  assert.equal(resolveReplicas(3, { ...run, batchNormStats: true }), 3);
  assert.throws(() => resolveReplicas(2, { ...run, scalarLoss: true }), /needs batch-mean losses/);
  assert.throws(() => resolveReplicas(1.5, run), /replicas must be an integer >= 1 or 'auto', got 1.5/);
});
