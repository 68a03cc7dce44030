// Merging models exported the way PyTorch users export them (test/fixtures/torch, written by
// scripts/make-torch-exports.py from torchvision's own blocks, BatchNorm kept): the exact folds run first
// and are verified on ORT, the torchvision GoogLeNet layout (two 3x3 "reduce" branches) and SqueezeNet's
// Fire modules merge, and what cannot merge says why. torch's own float64 outputs are the reference for
// everything that is exact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Model } from '../../src/ir/graph.js';
import { loadModel } from '../../src/onnx/file.js';
import { floatTensor, tensorToFloat32 } from '../../src/ir/tensor.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { Session } from '../../src/runtime/session.js';
import { applyMerges, mergeModel, planMerges } from '../../src/merge/plan.js';
import { foldForMerge } from '../../src/merge/fold.js';
import type { Dataset } from '../../src/data/dataset.js';
import { mergeAndRetrain } from '../../src/pipeline/merge-retrain.js';
import { tuckerAndRetrain } from '../../src/pipeline/tucker-retrain.js';
import { Random } from '../../src/util/random.js';

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'torch');

interface Entry {
  dims: number[];
  data: number[];
}

function load(name: string): Model {
  return loadModel(path.join(FIXTURES, `${name}.onnx`));
}

function reference(name: string): { input: Entry; eval_logits: Entry } {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as { input: Entry; eval_logits: Entry };
}

/** The logits of `model` on the fixture's input (batch 2, through the exports' dynamic batch). */
async function logits(model: Model, input: Entry): Promise<{ dims: number[]; data: Float32Array }> {
  const session = await Session.create(encodeModel(model), { optLevel: 'disabled' });
  try {
    const out = (await session.run({ input: { type: 'float32', dims: input.dims, data: Float32Array.from(input.data) } }))['logits'];
    assert.ok(out?.type === 'float32');
    return { dims: [...out.dims], data: out.data };
  } finally {
    await session.release();
  }
}

/** max |a - b| <= rtol * max |b|: the comparison src/rewrite/verify.ts makes. */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, what: string): void {
  assert.equal(actual.length, expected.length, what);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i] as number));
    worst = Math.max(worst, Math.abs((actual[i] as number) - (expected[i] as number)));
  }
  assert.ok(scale > 0, `${what}: reference is all zeros`);
  assert.ok(worst <= rtol * scale, `${what}: max |diff| ${worst} > ${rtol} x ${scale}`);
}

const count = (model: Model, opType: string): number => model.graph.nodes.filter((n) => n.opType === opType).length;

test('torchvision GoogLeNet layout with BN: folds verified, 2 stem blocks and 3 Inception modules merge, no refusals', async () => {
  const model = load('googlenet_tv');
  const nodesBefore = model.graph.nodes.length;
  const r = await mergeModel(model);
  assert.equal(r.folds.length, 1);
  const fold = r.folds[0];
  assert.ok(fold);
  assert.deepEqual([fold.rule, fold.count, fold.verified], ['fold-batchnorm', 21, true]);
  assert.ok((fold.maxRelError ?? 1) < 1e-5 && (fold.maxAbsError ?? 0) >= 0, JSON.stringify(fold));
  assert.deepEqual(r.merges.map((m) => [m.name, m.kind]), [
    ['conv1', 'streamline'], ['conv3', 'streamline'], ['inception3a', 'branch'], ['inception3b', 'branch'], ['inception4a', 'branch'],
  ]);
  assert.deepEqual(r.refused, []);
  assert.match(r.merges[0]?.description ?? '', /^Conv 7x7\/2 \+ Relu \+ MaxPool 3x3\/2 ceil -> Conv 11x11\/4 pads \[3,3,4,4\] \+ Relu$/);
  assert.match(r.merges[1]?.description ?? '', /^Conv 3x3\/1 \+ Relu \+ MaxPool 3x3\/2 ceil -> Conv 5x5\/2 pads \[1,1,2,2\] \+ Relu$/);
  for (const m of r.merges.slice(2)) {
    assert.match(m.description, /branch2 3x3 \(reduce 8->4\) .*branch3 3x3 \(reduce 4->4\) .*; 1x1 into branch2: the only pairing that keeps the Concat order/, m.name);
  }
  assert.equal(model.graph.nodes.length, nodesBefore, 'the input model is not modified');
  const g = r.model;
  assert.equal(count(g, 'BatchNormalization'), 0);
  assert.equal(count(g, 'MaxPool'), 1, 'only maxpool3, after a Concat, is left');
  for (const c of g.graph.nodes.filter((n) => n.opType === 'Concat')) assert.equal(c.inputs.length, 2, c.name);
  // The merged network runs at another batch size than the one it was traced at, with the same outputs.
  const ref = reference('googlenet_tv');
  const out = await logits(g, ref.input);
  assert.deepEqual(out.dims, ref.eval_logits.dims);
  assert.ok(out.data.every(Number.isFinite));
});

test('applyMerges (folds unverified) and mergeModel (folds verified) give the same model, byte for byte', async () => {
  for (const name of ['googlenet_tv', 'squeezenet_fire']) {
    const model = load(name);
    const options = { init: 'inherit' as const, seed: 1 };
    assert.ok(Buffer.from(encodeModel(applyMerges(model, options).model)).equals(Buffer.from(encodeModel((await mergeModel(model, options)).model))), name);
  }
});

test('the folds alone are exact: the folded GoogLeNet and ResNet exports reproduce torch', async () => {
  for (const [name, rule, firings] of [['googlenet_tv', 'fold-batchnorm', 21], ['resnet_block', 'fold-batchnorm', 6]] as const) {
    const folded = await foldForMerge(load(name));
    assert.deepEqual(folded.folds.map((f) => [f.rule, f.count, f.verified]), [[rule, firings, true]], name);
    const ref = reference(name);
    assertClose((await logits(folded.model, ref.input)).data, ref.eval_logits.data, 1e-4, `${name} folded vs torch`);
  }
});

test('SqueezeNet Fire modules merge exactly: the merged model reproduces the original on ORT (1e-5) and torch', async () => {
  const model = load('squeezenet_fire');
  const plan = planMerges(model);
  assert.deepEqual(plan.folds, []);
  assert.deepEqual(plan.refused, []);
  assert.deepEqual(plan.candidates.map((c) => [c.name, c.kind, c.exact]), [
    ['features.0', 'streamline', false], ['features.3', 'fire', true], ['features.4', 'fire', true], ['features.5', 'fire', true], ['features.7', 'fire', true],
  ]);
  assert.match(plan.candidates[1]?.description ?? '', /^2 parallel convs -> 1, exact: expand1x1 1x1 -> 8 \(centre taps\), expand3x3 3x3 -> 8; Conv 3x3 -> 16 \+ Relu \(conv FLOPs x1\.80\)$/);

  const fires = await mergeModel(model, { streamline: false });
  assert.deepEqual(fires.merges.map((m) => m.name), ['features.3', 'features.4', 'features.5', 'features.7']);
  assert.deepEqual(fires.rebirthLayers, []);
  assert.equal(count(fires.model, 'Concat'), 0);
  assert.equal(count(fires.model, 'Conv'), count(model, 'Conv') - 4);
  const ref = reference('squeezenet_fire');
  const before = await logits(model, ref.input);
  const after = await logits(fires.model, ref.input);
  assertClose(after.data, before.data, 1e-5, 'Fire-merged vs original on ORT');
  assertClose(after.data, ref.eval_logits.data, 1e-4, 'Fire-merged vs torch');

  // With the stem: the streamline merge is the only approximate one.
  const all = await mergeModel(model, { init: 'inherit' });
  assert.equal(all.merges.length, 5);
  assert.deepEqual(all.rebirthLayers.map((l) => [l.block, l.exactness]), [['features.0', 'approximate']]);
  assert.equal(count(all.model, 'MaxPool'), 1, 'features.6 (after a Concat) is left');
});

test('ResNet stem: conv1 + BN + ReLU + max pool merges once BN is folded; the residual blocks are no candidates', async () => {
  const r = await mergeModel(load('resnet_block'));
  assert.deepEqual(r.folds.map((f) => [f.rule, f.count]), [['fold-batchnorm', 6]]);
  assert.deepEqual(r.merges.map((m) => [m.name, m.kind, m.description]), [['conv1', 'streamline', 'Conv 7x7/2 + Relu + MaxPool 3x3/2 -> Conv 11x11/4 pads [5,5,2,2] + Relu']]);
  assert.deepEqual(r.refused, []);
  const ref = reference('resnet_block');
  assert.deepEqual((await logits(r.model, ref.input)).dims, ref.eval_logits.dims);
});

test('what cannot merge says why: torch LRN, dynamic height and width, training-mode BatchNorm', async () => {
  const lrn = await mergeModel(load('lrn_flatten'));
  assert.deepEqual(lrn.folds.map((f) => [f.rule, f.count, f.verified]), [['remove-identity', 2, true]]);
  assert.deepEqual(lrn.merges, []);
  assert.deepEqual(lrn.refused.map((x) => x.name), ['conv1']);
  assert.match(lrn.refused[0]?.reason ?? '', /PyTorch's LocalResponseNorm, which torch\.onnx exports as ~30 elementwise and shape ops/);

  // Height and width are symbolic: the folds are verified at 64x64, the merge needs fixed sizes.
  const dynamic = await mergeModel(load('dynamic_hw'));
  assert.deepEqual(dynamic.folds.map((f) => [f.rule, f.count, f.verified]), [['fold-batchnorm', 1, true]]);
  assert.deepEqual(dynamic.refused.map((x) => x.name), ['conv1']);
  assert.match(dynamic.refused[0]?.reason ?? '', /the spatial size of its input 'input' is unknown \(give the model a fixed input size\)/);

  // A TRAINING-mode export: BN normalises with batch statistics, which no fold reproduces.
  const train = planMerges(load('googlenet_tv_train'));
  assert.deepEqual(train.folds, []);
  assert.deepEqual(train.candidates, []);
  assert.deepEqual(train.refused.map((x) => x.name), ['conv1', 'conv3']);
  for (const x of train.refused) assert.match(x.reason, /BatchNormalization\) follows the conv and is not folded into it/);
});

/** Seeded random images of the exports' input size with random labels: enough to run the pipelines. */
function images(count: number, seed: number): Dataset {
  const rng = new Random(seed);
  const shape: [number, number, number] = [3, 64, 64];
  const per = shape[0] * shape[1] * shape[2];
  return {
    images: Float32Array.from({ length: count * per }, () => rng.nextFloat()),
    labels: Int32Array.from({ length: count }, () => Math.floor(rng.nextFloat() * 10)),
    count, shape, classes: 10,
  };
}

test('mergeAndRetrain folds first and distils from the unfolded teacher; exact merges need no retraining', async () => {
  const teacher = load('googlenet_tv');
  const nodes = teacher.graph.nodes.length;
  const r = await mergeAndRetrain(teacher, {
    mode: 'distill', init: 'inherit', merge: {}, train: images(32, 1), test: images(16, 2), epochs: 1, batchSize: 16, threads: 1, progress: false,
  });
  assert.deepEqual(r.folds.map((f) => [f.rule, f.count, f.verified]), [['fold-batchnorm', 21, true]]);
  assert.deepEqual(r.merges.map((m) => m.name), ['conv1', 'conv3', 'inception3a', 'inception3b', 'inception4a']);
  assert.deepEqual(r.accuracy.steps.map((s) => s.step), ['all merges (distill)']);
  assert.equal(teacher.graph.nodes.length, nodes);
  assert.equal(count(r.model, 'BatchNormalization'), 0);

  // Fire merges only ('paper' schedule): nothing approximate, so no retraining step runs.
  const fire = await mergeAndRetrain(load('squeezenet_fire'), {
    mode: 'paper', init: 'xavier', merge: { streamline: false }, train: images(16, 3), test: images(16, 4), epochs: 1, threads: 1, progress: false,
  });
  assert.deepEqual(fire.merges.map((m) => [m.kind, m.exact]), [['fire', true], ['fire', true], ['fire', true], ['fire', true]]);
  assert.deepEqual(fire.accuracy.steps.map((s) => s.step), ['exact merges only (no retraining needed)']);
  assert.equal(fire.accuracy.after, fire.accuracy.before, 'an exact merge keeps every prediction');
});

test('tuckerAndRetrain folds first: a conv is decomposed with its BN, output errors are against the original', async () => {
  const model = load('googlenet_tv');
  const r = await tuckerAndRetrain(model, { ranks: { energy: 0.9 }, measure: false, retrain: 'none' });
  assert.deepEqual(r.folds.map((f) => [f.rule, f.count, f.verified]), [['fold-batchnorm', 21, true]]);
  const done = r.layers.filter((l) => l.decomposed);
  assert.ok(done.length > 0);
  assert.equal(count(r.model, 'BatchNormalization'), 0);
  for (const l of done) assert.ok(Number.isFinite(r.layerOutputError[l.name]), l.name);
  assert.ok(r.outputError > 0 && Number.isFinite(r.outputError), `logits error ${r.outputError}`);
  // conv3 (8 -> 16, 3x3) planted with Tucker ranks [4, 8] (only 4 input and 8 output channels non-zero):
  // the BN fold scales output rows, which keeps those ranks, so decomposing the folded conv is exact, and
  // the errors, measured against the original model with its BN, are float rounding only.
  const planted = structuredClone(model);
  const w = planted.graph.initializers.get('conv3.conv.weight');
  assert.ok(w);
  const values = tensorToFloat32(w);
  for (let o = 0; o < 16; o++) for (let i = 0; i < 8; i++) if (o >= 8 || i >= 4) values.fill(0, (o * 8 + i) * 9, (o * 8 + i + 1) * 9);
  planted.graph.initializers.set(w.name, floatTensor(w.name, w.dims, values));
  const exact = await tuckerAndRetrain(planted, { ranks: { '/conv3/conv/Conv': [4, 8] }, measure: false, retrain: 'none' });
  assert.deepEqual(exact.layers.filter((l) => l.decomposed).map((l) => l.name), ['/conv3/conv/Conv']);
  assert.ok((exact.layerOutputError['/conv3/conv/Conv'] ?? 1) < 1e-5, JSON.stringify(exact.layerOutputError));
  assert.ok(exact.outputError < 1e-5, `logits error ${exact.outputError}`);
  const unfolded = await tuckerAndRetrain(model, { ranks: { energy: 0.9 }, measure: false, retrain: 'none', fold: false });
  assert.deepEqual(unfolded.folds, []);
  assert.equal(count(unfolded.model, 'BatchNormalization'), 21);
});
