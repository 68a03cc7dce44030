// Fine-tuning against a teacher: logits computed once equal the per-batch teacher run, in any batch order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { floatTensor } from '../../src/ir/tensor.js';
import type { Model } from '../../src/ir/graph.js';
import type { Dataset } from '../../src/data/dataset.js';
import { batches, sliceDataset } from '../../src/data/dataset.js';
import { evaluate } from '../../src/train/evaluate.js';
import { RebirthError } from '../../src/errors.js';
import { TeacherRunner, defaultValidation, finetune, gatherRows } from '../../src/train/finetune.js';
import type { DataSource } from '../../src/data/source.js';
import { Random } from '../../src/util/random.js';

function net(seed: number): Model {
  const rng = new Random(seed);
  const b = new GraphBuilder('t');
  const x = b.input('data', ['N', 1, 4, 4]);
  const w = b.initializer(floatTensor('w', [3, 16], Array.from({ length: 48 }, () => rng.normal())));
  const bias = b.initializer(floatTensor('b', [3], [0.1, -0.2, 0.3]));
  const y = b.node('Gemm', [b.op('Flatten', [x]), w, bias], { transB: 1 }, { outputs: ['logits'] })[0] as string;
  b.output(y, ['N', 3]);
  return modelOf(b.graph);
}

function data(count: number): Dataset {
  const rng = new Random(7);
  return { images: Float32Array.from({ length: count * 16 }, () => rng.nextFloat()), labels: Int32Array.from({ length: count }, (_, i) => i % 3), count, shape: [1, 4, 4], classes: 3 };
}

test('cached teacher logits, gathered by sample index, equal the teacher run on the shuffled batch', async () => {
  const ds = data(300);
  const runner = await TeacherRunner.create(net(1), [], 1);
  try {
    const cached = await runner.logitsFor(ds, false);
    assert.deepEqual(cached.dims, [300, 3]);
    for (const batch of batches(ds, { batchSize: 64, shuffle: true, seed: 3, epoch: 1 })) {
      const live = (await runner.feeds(batch.x, batch.size)).teacher_logits;
      const got = gatherRows(cached, batch.samples, batch.size);
      assert.deepEqual(got.dims, live?.dims);
      assert.deepEqual(Array.from(got.data as Float32Array), Array.from((live?.data ?? new Float32Array()) as Float32Array));
    }
  } finally {
    await runner.release();
  }
});

test('distillation with cached logits pulls the student towards the teacher', async () => {
  const teacher = net(1);
  const student = net(2);
  const ds = data(256);
  const diff = (m: Model): number => {
    const a = m.graph.initializers.get('w')?.data;
    const b = teacher.graph.initializers.get('w')?.data;
    const fa = new Float32Array(a?.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength) ?? new ArrayBuffer(0));
    const fb = new Float32Array(b?.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) ?? new ArrayBuffer(0));
    return fa.reduce((s, v, i) => s + (v - (fb[i] ?? 0)) ** 2, 0);
  };
  const before = diff(student);
  const r = await finetune(student, { mode: 'distill', teacher, train: ds, epochs: 4, lr: 0.05, threads: 1, progress: false, weights: { labels: 0 } });
  assert.ok(!r.diverged);
  assert.ok((r.history[3]?.loss ?? Infinity) < (r.history[0]?.loss ?? 0), 'KL to the teacher went down');
  assert.ok(diff(student) < before, 'the student moved towards the teacher');
});

test('augmented distillation: the teacher sees the same crops and mirrors as the student, every step', async () => {
  const ds = data(256);
  const augment = { pad: 1, flip: true };
  // The views differ from the plain images: the teacher's logits on them are not the cached ones.
  const runner = await TeacherRunner.create(net(1), [], 1);
  try {
    const cached = await runner.logitsFor(ds, false);
    const batch = batches(ds, { batchSize: 64, shuffle: true, seed: 1, epoch: 0, augment }).next().value;
    assert.ok(batch);
    const live = (await runner.feeds(batch.x, batch.size)).teacher_logits?.data as Float32Array;
    const plain = gatherRows(cached, batch.samples, batch.size).data as Float32Array;
    assert.ok(live.some((v, i) => Math.abs(v - (plain[i] ?? 0)) > 1e-3), 'augmentation changed the teacher logits');
  } finally {
    await runner.release();
  }
  // A student identical to the teacher, not moving (lr ~0), has zero KL on every step only if both saw the same view.
  const r = await finetune(net(1), { mode: 'distill', teacher: net(1), train: ds, epochs: 2, lr: 1e-12, threads: 1, progress: false, weights: { labels: 0 }, augment });
  for (const h of r.history) assert.ok(Math.abs(h.loss) < 1e-5, `epoch ${h.epoch}: KL ${h.loss}`);
});

test('validation: the epoch is chosen on images held out of the training set, the test set only reported', async () => {
  const ds = data(256);
  const student = net(2);
  const r = await finetune(student, { mode: 'distill', teacher: net(1), train: ds, test: data(60), validation: 64, epochs: 3, lr: 0.05, threads: 1, progress: false });
  assert.ok(r.history.every((h) => h.validation !== undefined && h.eval !== undefined));
  // holdOut keeps the last 64 of an in-memory set for validation; the returned weights are the chosen epoch's.
  const held = (await evaluate(student, sliceDataset(ds, 192), { threads: 1 })).top1;
  assert.equal(held, r.history[r.bestEpoch - 1]?.validation?.top1);
  assert.equal(r.bestEpoch, 1 + r.history.map((h) => h.validation?.top1 ?? 0).indexOf(Math.max(...r.history.map((h) => h.validation?.top1 ?? 0))));
  await assert.rejects(finetune(net(2), { mode: 'distill', teacher: net(1), train: ds, validation: 256, epochs: 1, threads: 1, progress: false }),
    (e: unknown) => e instanceof RebirthError && /validation split of 256 images needs at least 1 and fewer than the 256/.test(e.message));
});

test('defaultValidation: 5,000 of a large labeled set, a tenth of a smaller one, none below 1,000 images or without labels', () => {
  const sized = (count: number): Dataset => ({ images: new Float32Array(0), labels: new Int32Array(0), count, shape: [1, 4, 4], classes: 3 });
  assert.equal(defaultValidation(sized(60000)), 5000);
  assert.equal(defaultValidation(sized(20000)), 2000);
  assert.equal(defaultValidation(sized(1000)), 100);
  assert.equal(defaultValidation(sized(999)), 0);
  const unlabeled = { count: 60000, labeled: false, batches: () => { throw new Error('not read'); } } as unknown as DataSource;
  assert.equal(defaultValidation(unlabeled), 0);
});
