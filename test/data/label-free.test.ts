// Label-free distillation: a student learns from a teacher's logits on an unlabeled folder; the logits are
// cached on disk by file, size, modification time and preprocessing, so a second run computes none.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { finetune } from '../../src/train/finetune.js';
import { openData } from '../../src/data/open.js';
import { LogitCache, cacheId } from '../../src/data/logit-cache.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { floatTensor } from '../../src/ir/tensor.js';
import type { Model } from '../../src/ir/graph.js';
import { RebirthError } from '../../src/errors.js';
import { Random } from '../../src/util/random.js';
import { tempDir, writeImage } from './images.js';

/** conv 3x3 (3 -> 4) + ReLU + global average pool + Gemm to 3 classes, seeded weights. */
function net(seed: number): Model {
  const rng = new Random(seed);
  const b = new GraphBuilder('n');
  const x = b.input('data', ['N', 3, 8, 8]);
  const cw = b.initializer(floatTensor('cw', [4, 3, 3, 3], Array.from({ length: 108 }, () => rng.normal(0, 0.5))));
  const conv = b.op('Relu', [b.op('Conv', [x, cw], { pads: [1, 1, 1, 1] })]);
  const gw = b.initializer(floatTensor('gw', [3, 4], Array.from({ length: 12 }, () => rng.normal(0, 2))));
  const gb = b.initializer(floatTensor('gb', [3], [0, 0, 0]));
  b.output(b.op('Gemm', [b.op('Flatten', [b.op('GlobalAveragePool', [conv])]), gw, gb], { transB: 1 }), ['N', 3]);
  return modelOf(b.graph);
}

function keyLines(dir: string): string[] {
  const file = fs.readdirSync(dir).find((f) => f.endsWith('.keys'));
  return file ? fs.readFileSync(path.join(dir, file), 'utf8').split('\n').filter(Boolean) : [];
}

void describe('label-free distillation', () => {
  void test('an unlabeled folder trains from the teacher alone; the logits are cached and reused', async () => {
    const images = tempDir();
    for (let i = 0; i < 48; i++) await writeImage(path.join(images, `${String(i).padStart(2, '0')}.jpg`), 12 + (i % 5), 10, 'jpeg', i + 1);
    const cacheDir = tempDir();
    const teacher = net(1);
    const run = async (): Promise<number[]> => {
      const { data } = openData(images, { split: 'train', model: teacher });
      const student = net(2);
      const r = await finetune(student, { mode: 'distill', teacher, train: data, epochs: 3, lr: 0.05, batchSize: 16, threads: 1, progress: false, logitCache: cacheDir });
      assert.ok(!r.diverged);
      return r.history.map((h) => h.loss);
    };
    const losses = await run();
    assert.ok((losses[2] ?? Infinity) < (losses[0] ?? 0), `KL to the teacher went down: ${losses.join(', ')}`);
    assert.equal(keyLines(cacheDir).length, 48, 'one cached row per image');
    assert.deepEqual(await run(), losses, 'a second run reads the same logits back');
    assert.equal(keyLines(cacheDir).length, 48, 'and computes none');
    const later = new Date(Date.now() + 60_000);
    fs.utimesSync(path.join(images, '07.jpg'), later, later);
    await run();
    assert.equal(keyLines(cacheDir).length, 49, 'a modified file is computed again');
    assert.match(keyLines(cacheDir)[48] ?? '', /07\.jpg\t\d+\t\d/);
  });

  void test('labels-only retraining on unlabeled data is a one-line error', async () => {
    const images = tempDir();
    for (let i = 0; i < 4; i++) await writeImage(path.join(images, `${i}.png`), 8, 8, 'png', i);
    const { data } = openData(images, { split: 'train', model: net(1) });
    await assert.rejects(finetune(net(2), { mode: 'labels', train: data, epochs: 1, threads: 1, progress: false }),
      (e: unknown) => e instanceof RebirthError && /is unlabeled \(no class folders\): .*use --retrain distill/.test(e.message));
  });

  void test('a validation split of unlabeled data is a one-line error (it chooses epochs by top-1 on labels)', async () => {
    const images = tempDir();
    for (let i = 0; i < 4; i++) await writeImage(path.join(images, `${i}.png`), 8, 8, 'png', i);
    const { data } = openData(images, { split: 'train', model: net(1) });
    await assert.rejects(finetune(net(2), { mode: 'distill', teacher: net(1), train: data, validation: 2, epochs: 1, threads: 1, progress: false }),
      (e: unknown) => e instanceof RebirthError && /is unlabeled: a validation split chooses epochs by top-1 on labels; drop --validation/.test(e.message) && !e.message.includes('\n'));
  });
});

void describe('LogitCache', () => {
  void test('rows survive reopening; an incomplete tail is dropped; a held cache is not shared', () => {
    const dir = tempDir();
    const id = cacheId(Uint8Array.of(1, 2, 3), 'unit', 2);
    const a = LogitCache.open(dir, id, 2);
    assert.equal(a.append(['x', 'y'], Float32Array.of(1, 2, 3, 4)), 0);
    const warnings: string[] = [];
    const b = LogitCache.open(dir, id, 2, (l) => warnings.push(l));
    assert.match(warnings[0] ?? '', /is in use by another run; this run keeps its own/);
    assert.equal(b.size, 0);
    b.close();
    a.close();
    // Simulate a run killed between writing a row's values and its key line.
    fs.appendFileSync(path.join(dir, `${id}.f32`), Buffer.from(Float32Array.of(9, 9).buffer));
    fs.appendFileSync(path.join(dir, `${id}.keys`), 'half-writ');
    const c = LogitCache.open(dir, id, 2);
    assert.equal(c.size, 2);
    const out = new Float32Array(4);
    c.read([1, 0], out);
    assert.deepEqual([...out], [3, 4, 1, 2]);
    assert.equal(c.append(['z'], Float32Array.of(5, 6)), 2);
    c.close();
    const d = LogitCache.open(dir, id, 2);
    assert.equal(d.rowOf('z'), 2);
    d.close();
    assert.notEqual(cacheId(Uint8Array.of(1, 2, 3), 'imagenet', 2), id, 'the preprocessing is part of the key');
  });
});
