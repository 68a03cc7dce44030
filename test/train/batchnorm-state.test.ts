/**
 * The trainer on real PyTorch exports (test/fixtures/torch, scripts/make-torch-exports.py) with the
 * fixture's own batch: BatchNormalization running statistics are state (written back after each step to
 * torch's values, never trained, carried bit-exactly through --resume), a training-mode export is trained
 * and returned in inference form, one plain SGD step moves the parameters by lr times torch's train()-mode
 * gradients, and freezeBatchNorm keeps the statistics while training BN's scale and bias with torch's
 * eval()-mode gradients.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Model } from '../../src/ir/graph.js';
import { tensorToFloat32 } from '../../src/ir/tensor.js';
import { loadModel } from '../../src/onnx/file.js';
import type { Dataset } from '../../src/data/dataset.js';
import { train, type TrainOptions } from '../../src/train/trainer.js';
import { batchNormStateNames, floatParamNames } from '../../src/train/params.js';

interface Entry { dims: number[]; data: number[] }
interface TorchFixture {
  name: string;
  input: Entry;
  labels: number[];
  num_classes: number;
  grads: Record<string, number[]>;
  eval_grads: Record<string, number[]>;
  running_stats_after: Record<string, number[]>;
}

const FIXTURES = ((): string => {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'test', 'fixtures', 'torch');
    if (fs.existsSync(candidate) && !candidate.includes(`${path.sep}dist${path.sep}`)) return candidate;
    if (path.dirname(dir) === dir) throw new Error('test/fixtures/torch not found above this test file');
  }
})();

function fixture(name: string): TorchFixture {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as TorchFixture;
}

/** The fixture's batch as a dataset: one batch of all its samples per epoch, so BN sees exactly torch's batch. */
function dataset(f: TorchFixture): Dataset {
  const [n, c, h, w] = f.input.dims as [number, number, number, number];
  return { images: Float32Array.from(f.input.data), labels: Int32Array.from(f.labels), count: n, shape: [c, h, w], classes: f.num_classes };
}

const LR = 0.1;

function options(f: TorchFixture, more: Partial<TrainOptions> = {}): TrainOptions {
  return {
    epochs: 1, batchSize: f.labels.length, lr: LR, seed: 1, optimizer: { kind: 'sgd', momentum: 0, weightDecay: 0 },
    schedule: { config: { kind: 'constant' }, warmupSteps: 0 }, threads: 1, progress: false, ...more,
  };
}

function values(model: Model, name: string): Float32Array {
  const t = model.graph.initializers.get(name);
  assert.ok(t, `initializer ${name}`);
  return Float32Array.from(tensorToFloat32(t));
}

/** max |actual - expected| relative to max |expected| (floored at 1e-6). */
function relError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length);
  let err = 0;
  let scale = 1e-6;
  for (let i = 0; i < expected.length; i++) {
    err = Math.max(err, Math.abs((actual[i] as number) - (expected[i] as number)));
    scale = Math.max(scale, Math.abs(expected[i] as number));
  }
  return err / scale;
}

/** The parameters moved by -LR * expected gradient (plain SGD, no momentum or decay in the first step). */
function assertSgdStep(before: Model, after: Model, grads: Record<string, number[]>, what: string): void {
  for (const [name, g] of Object.entries(grads)) {
    const delta = values(before, name).map((v, i) => (v - (values(after, name)[i] as number)) / LR);
    // float32 parameters of magnitude ~1 lose ~1e-7 / LR of the delta to rounding.
    const err = relError(delta, g);
    assert.ok(err < 2e-3, `${what}: step of ${name} / lr vs torch's gradient: relative error ${err.toExponential(2)}`);
  }
}

test('train(): a training-mode export is trained in inference form; BN running statistics end at torch\'s values', async () => {
  const f = fixture('googlenet_tv');
  const model = loadModel(path.join(FIXTURES, 'googlenet_tv_train.onnx'));
  const state = batchNormStateNames(model);
  assert.equal(state.length, 42);
  const r = await train(model, dataset(f), options(f));
  assert.equal(r.model, model, 'trained in place');
  for (const n of model.graph.nodes) {
    if (n.opType === 'BatchNormalization') assert.deepEqual(n.outputs.length, 1, `${n.name}: inference form`);
    if (n.opType === 'Dropout') assert.equal(n.inputs.length, 2, `${n.name}: no training_mode input`);
  }
  for (const name of state) {
    const err = relError(values(model, name), f.running_stats_after[name] as number[]);
    assert.ok(err < 1e-4, `${name} after one step: relative error ${err.toExponential(2)}`);
  }
});

test('train(): one SGD step follows torch\'s train()-mode gradients; running statistics are state, not parameters', async () => {
  const f = fixture('resnet_block');
  const file = path.join(FIXTURES, 'resnet_block.onnx');
  const model = loadModel(file);
  assert.deepEqual(floatParamNames(model).sort(), Object.keys(f.grads).sort());
  await train(model, dataset(f), options(f));
  assertSgdStep(loadModel(file), model, f.grads, 'train mode');
  for (const name of batchNormStateNames(model)) {
    const err = relError(values(model, name), f.running_stats_after[name] as number[]);
    assert.ok(err < 1e-4, `${name}: relative error ${err.toExponential(2)}`);
  }
});

test('train({ freezeBatchNorm }): running statistics unchanged, BN scale and bias trained with torch\'s eval()-mode gradients', async () => {
  const f = fixture('resnet_block');
  const file = path.join(FIXTURES, 'resnet_block.onnx');
  const model = loadModel(file);
  await train(model, dataset(f), options(f, { freezeBatchNorm: true }));
  const before = loadModel(file);
  for (const name of batchNormStateNames(model)) {
    assert.deepEqual(new Uint8Array(values(model, name).buffer), new Uint8Array(values(before, name).buffer), `${name} frozen`);
  }
  assertSgdStep(before, model, f.eval_grads, 'freezeBatchNorm');
});

test('--resume carries BN running statistics bit-exactly', async () => {
  const f = fixture('resnet_block');
  const file = path.join(FIXTURES, 'resnet_block.onnx');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-bn-resume-'));
  const two = options(f, { epochs: 2, optimizer: { kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 } });
  const straight = await train(loadModel(file), dataset(f), { ...two, checkpoint: path.join(dir, 'a.ckpt') });
  const ck = path.join(dir, 'b.ckpt');
  await assert.rejects(train(loadModel(file), dataset(f), { ...two, checkpoint: ck, onEpoch: () => { throw new Error('interrupted'); } }), /interrupted/);
  const resumed = await train(loadModel(file), dataset(f), { ...two, checkpoint: ck, resume: true });
  const names = [...straight.model.graph.initializers.keys()];
  const state = batchNormStateNames(straight.model);
  assert.ok(state.length > 0);
  for (const name of names) {
    assert.deepEqual(new Uint8Array(values(resumed.model, name).buffer), new Uint8Array(values(straight.model, name).buffer), name);
  }
  // The statistics moved in both epochs (two updates from the same batch differ from one).
  for (const name of state) assert.notDeepEqual(values(straight.model, name), values(loadModel(file), name));
});
