/**
 * The trainer end to end on a tiny conv net and synthetic data: it learns, --resume continues bit-exactly,
 * a diverging run stops with a clear message, and learning-rate multipliers reach the optimizer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { floatTensor, tensorToFloat32 } from '../../src/ir/tensor.js';
import type { Model } from '../../src/ir/graph.js';
import type { Dataset } from '../../src/data/dataset.js';
import { train, type TrainOptions } from '../../src/train/trainer.js';
import { evaluate } from '../../src/train/evaluate.js';
import { Random } from '../../src/util/random.js';
import { diagonalPatches } from './fixtures.js';
import { RebirthError } from '../../src/errors.js';

function tinyNet(seed: number): Model {
  const rng = new Random(seed);
  const b = new GraphBuilder('tiny');
  const x = b.input('data', ['N', 1, 6, 6]);
  const w = b.initializer(floatTensor('conv_w', [4, 1, 3, 3], Array.from({ length: 36 }, () => rng.normal() * 0.5)));
  const cb = b.initializer(floatTensor('conv_b', [4], [0, 0, 0, 0]));
  const h = b.op('Relu', [b.op('Conv', [x, w, cb], { pads: [1, 1, 1, 1] })]);
  const p = b.op('MaxPool', [h], { kernel_shape: [2, 2], strides: [2, 2] });
  const f = b.op('Flatten', [p]);
  const fw = b.initializer(floatTensor('fc_w', [3, 36], Array.from({ length: 108 }, () => rng.normal() * 0.2)));
  const fb = b.initializer(floatTensor('fc_b', [3], [0, 0, 0]));
  const y = b.node('Gemm', [f, fw, fb], { transB: 1 }, { outputs: ['logits'] })[0] as string;
  b.output(y, ['N', 3]);
  return modelOf(b.graph);
}

/** Three classes: a bright 2x2 blob in the top-left, the centre, or the bottom-right of 6x6, plus noise. */
function blobs(count: number, seed: number): Dataset {
  return diagonalPatches(count, seed, { size: 6, patch: 2, starts: [0, 2, 4], noise: 0.1 });
}

const base: TrainOptions = {
  epochs: 4, batchSize: 16, lr: 0.05, seed: 3, optimizer: { kind: 'sgd', momentum: 0.9 },
  schedule: { config: { kind: 'cosine' }, warmupSteps: 2 }, threads: 1, progress: false,
};

function weights(m: Model): Float32Array[] {
  return ['conv_w', 'conv_b', 'fc_w', 'fc_b'].map((n) => Float32Array.from(tensorToFloat32(m.graph.initializers.get(n)!)));
}

test('training learns a separable task', async () => {
  const data = blobs(192, 1);
  const r = await train(tinyNet(1), data, { ...base, evalData: blobs(96, 2) });
  const last = r.history[r.history.length - 1]!;
  assert.ok(last.loss < r.history[0]!.loss, 'loss went down');
  assert.ok((last.eval?.top1 ?? 0) > 0.9, `test top-1 ${last.eval?.top1}`);
});

test('--resume continues bit-exactly from the last checkpoint', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-resume-'));
  const data = blobs(96, 4);
  const straight = await train(tinyNet(5), data, { ...base, checkpoint: path.join(dir, 'a.ckpt') });
  // The same run interrupted after epoch 2 (a callback that throws stands in for Ctrl-C), then resumed.
  const ck = path.join(dir, 'b.ckpt');
  await assert.rejects(train(tinyNet(5), data, { ...base, checkpoint: ck, onEpoch: (s) => { if (s.epoch === 2) throw new Error('interrupted'); } }), /interrupted/);
  const resumed = await train(tinyNet(5), data, { ...base, checkpoint: ck, resume: true });
  const a = weights(straight.model);
  const b = weights(resumed.model);
  for (let i = 0; i < a.length; i++) assert.deepEqual(new Uint8Array(b[i]!.buffer), new Uint8Array(a[i]!.buffer));
  assert.equal(resumed.history.length, 4);
});

test('a diverging run stops with a message that names the step and keeps the checkpoint', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-nan-'));
  const ck = path.join(dir, 'c.ckpt');
  await assert.rejects(
    train(tinyNet(7), blobs(64, 8), { ...base, lr: 1e12, checkpoint: ck }),
    (e: unknown) => e instanceof RebirthError && /loss became (NaN|Infinity|-Infinity) at epoch \d+, step \d+.*lower --lr/.test(e.message),
  );
});

test('stopOnDivergence returns the best weights so far instead of throwing', async () => {
  const data = blobs(64, 8);
  const start = weights(tinyNet(7));
  // Diverges in the first epoch: nothing better than the starting weights exists.
  const first = await train(tinyNet(7), data, { ...base, lr: 1e12, stopOnDivergence: true });
  assert.match(first.diverged?.message ?? '', /loss became .* at epoch 1, step \d+/);
  assert.deepEqual(weights(first.model), start);
  // A sane first epoch, then a blow-up (lr multiplied after epoch 1 through a callback-free schedule):
  // the returned weights are epoch 1's, which evaluate finite.
  const twoPhase = await train(tinyNet(7), data, {
    ...base, epochs: 3, lr: 0.05, stopOnDivergence: true, evalData: blobs(32, 9),
    schedule: { config: { kind: 'step', stepSize: 4, gamma: 1e14 }, warmupSteps: 0 },
  });
  assert.ok(twoPhase.diverged, 'the run diverged');
  assert.ok(twoPhase.bestEpoch >= 1);
  for (const w of weights(twoPhase.model)) assert.ok(w.every(Number.isFinite), 'best weights are finite');
});

test('selectData chooses the epoch; evalData is then only reported', async () => {
  const data = blobs(192, 1);
  // Labels rotated by one class: the better the network learns the task, the worse it scores here, so
  // the epoch this chooses is not the one evalData would.
  const plain = blobs(96, 2);
  const rotated: Dataset = { ...plain, labels: plain.labels.map((y) => (y + 1) % 3) };
  // A low rate, so that the network learns over the epochs rather than in the first.
  const r = await train(tinyNet(1), data, { ...base, lr: 0.004, epochs: 5, evalData: blobs(96, 3), selectData: rotated });
  const v = r.history.map((h) => h.validation?.top1 ?? NaN);
  const e = r.history.map((h) => h.eval?.top1 ?? NaN);
  assert.ok(v.every(Number.isFinite) && e.every(Number.isFinite), 'both evaluated every epoch');
  assert.equal(r.bestEpoch, v.indexOf(Math.max(...v)) + 1);
  assert.notEqual(r.bestEpoch, e.indexOf(Math.max(...e)) + 1, `validation ${v.join(', ')}, test ${e.join(', ')}`);
  // The returned weights are the chosen epoch's.
  assert.equal((await evaluate(r.model, rotated, { threads: 1 })).top1, v[r.bestEpoch - 1]);
});

test('ema returns the moving average of the weights over the steps, ramped in, and resumes with it', async () => {
  // One step per epoch (16 images, batch 16) at a constant rate: a run of k epochs is the first k steps
  // of a longer one, so the raw weights after each step come from k-epoch runs without averaging.
  const data = blobs(16, 11);
  const flat: TrainOptions = { ...base, schedule: { config: { kind: 'constant' }, warmupSteps: 0 } };
  const steps = 5;
  // The ramp (1 + t) / (10 + t) is below 0.3 for t < 3 and above it after: both branches are used.
  const decay = 0.3;
  let avg = weights(tinyNet(12));
  for (let t = 1; t <= steps; t++) {
    const raw = weights((await train(tinyNet(12), data, { ...flat, epochs: t })).model);
    const d = Math.min(decay, (1 + t) / (10 + t));
    avg = avg.map((a, i) => a.map((v, j) => d * v + (1 - d) * (raw[i]![j] as number)));
  }
  const averaged = await train(tinyNet(12), data, { ...flat, epochs: steps, ema: decay });
  const got = weights(averaged.model);
  const last = weights((await train(tinyNet(12), data, { ...flat, epochs: steps })).model);
  let moved = 0;
  for (let i = 0; i < got.length; i++) {
    for (let j = 0; j < got[i]!.length; j++) {
      assert.ok(Math.abs(got[i]![j]! - avg[i]![j]!) <= 1e-6 * (1 + Math.abs(avg[i]![j]!)), `weight ${i}[${j}]: ${got[i]![j]} vs ${avg[i]![j]}`);
      moved = Math.max(moved, Math.abs(got[i]![j]! - last[i]![j]!));
    }
  }
  assert.ok(moved > 1e-4, 'the average differs from the last raw weights');
  // Interrupted after step 3 and resumed: the average continues from the checkpoint, bit for bit.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-ema-'));
  const ck = path.join(dir, 'e.ckpt');
  await assert.rejects(train(tinyNet(12), data, { ...flat, epochs: steps, ema: decay, checkpoint: ck, onEpoch: (s) => { if (s.epoch === 3) throw new Error('interrupted'); } }), /interrupted/);
  const resumed = weights((await train(tinyNet(12), data, { ...flat, epochs: steps, ema: decay, checkpoint: ck, resume: true })).model);
  for (let i = 0; i < got.length; i++) assert.deepEqual(new Uint8Array(resumed[i]!.buffer), new Uint8Array(got[i]!.buffer));
  await assert.rejects(train(tinyNet(12), data, { ...flat, ema: 1 }), /ema must be in \[0, 1\)/);
});
