/**
 * `rebirth merge` end to end: JSON report fields, retraining modes, init 'fit', divergence handling,
 * a model with nothing to merge, PyTorch exports (folds first, torchvision GoogLeNet, Fire modules,
 * refusals), and bad options.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { DataType, floatTensor, tensorToFloat32 } from '../../src/ir/tensor.js';
import { loadModel, saveModel } from '../../src/onnx/file.js';
import { expectOneLineError, rebirth, root } from './run.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-merge-'));
const teacher = path.join(root, 'models', 'googlenet-mini.onnx');
const torchExport = (name: string): string => path.join(root, 'test', 'fixtures', 'torch', `${name}.onnx`);

interface MergeJson {
  folds: Array<{ rule: string; count: number; verified: boolean; maxAbsError?: number; maxRelError?: number }>;
  merges: Array<{ name: string; kind: string; exact: boolean; layers: string[]; description: string }>;
  refused?: Array<{ name: string; reason: string }>;
  accuracy: { before: number; after: number; steps: Array<{ step: string; top1: number }> } | null;
  latencyMs: Record<'node' | 'wasm', { before: number; after: number }>;
  fits?: Array<{ node: string; fitted: boolean; errorBefore: number; errorAfter: number }>;
  diverged?: string;
}

test('a model with no mergeable block: says so, exits 0, writes the model unchanged', () => {
  const b = new GraphBuilder('m');
  const x = b.input('x', [1, 2, 8, 8]);
  const w = b.initializer(floatTensor('w', [4, 2, 3, 3], new Float32Array(72).fill(0.1)));
  b.output(b.op('Relu', [b.op('Conv', [x, w], {}, 'conv_a')], {}, 'relu_a'));
  const input = path.join(dir, 'plain.onnx');
  saveModel(modelOf(b.graph), input);
  const out = path.join(dir, 'plain-out.onnx');
  const r = rebirth('merge', input, '-o', out, '--runs', '2');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /no mergeable block found: the model is unchanged/);
  assert.deepEqual(loadModel(out).graph.nodes.map((n) => n.opType), ['Conv', 'Relu']);
});

test('merge --init fit --retrain distill --json reports merges, fits, accuracy and latency', () => {
  const out = path.join(dir, 'fit.onnx');
  const r = rebirth('merge', teacher, '-o', out, '--init', 'fit', '--retrain', 'distill', '--data', 'fashion-mnist',
    '--limit', '320', '--fit-images', '128', '--epochs', '1', '--runs', '2', '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as MergeJson;
  assert.deepEqual(j.merges.map((m) => m.name), ['conv1', 'conv2', 'inception_3a', 'inception_3b', 'inception_4a']);
  for (const m of j.merges) assert.ok(m.layers.length > 0 && ['streamline', 'branch'].includes(m.kind));
  assert.ok(j.accuracy && j.accuracy.before > 0.8, 'teacher accuracy on the first 320 test images');
  assert.equal(j.accuracy?.steps.length, 1);
  const fitted = (j.fits ?? []).filter((f) => f.fitted);
  assert.equal(fitted.length, 8, 'the two streamline convs and two wide convs per module');
  for (const f of fitted) assert.ok(f.errorAfter < f.errorBefore, f.node);
  for (const b of ['node', 'wasm'] as const) assert.ok(j.latencyMs[b].before > 0 && j.latencyMs[b].after > 0);
  assert.equal(loadModel(out).graph.nodes.filter((n) => n.opType === 'LRN').length, 0);
});

test('merge --retrain paper: one step per merge, bottom to top, with a checkpoint per step', () => {
  const out = path.join(dir, 'paper.onnx');
  const ck = path.join(dir, 'paper.ckpt');
  const r = rebirth('merge', teacher, '-o', out, '--retrain', 'paper', '--only', 'conv2,conv1', '--data', 'fashion-mnist',
    '--limit', '192', '--epochs', '1', '--runs', '1', '--checkpoint', ck, '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as MergeJson;
  assert.deepEqual(j.accuracy?.steps.map((s) => s.step), ['conv1', 'conv2']);
  assert.ok(fs.existsSync(`${ck}.conv1`) && fs.existsSync(`${ck}.conv2`));
});

test('diverging retraining stops, warns, and keeps the best weights', () => {
  const out = path.join(dir, 'nan.onnx');
  const r = rebirth('merge', teacher, '-o', out, '--only', 'conv1', '--retrain', 'distill', '--data', 'fashion-mnist',
    '--limit', '192', '--epochs', '2', '--lr', '1e9', '--runs', '1', '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: retraining diverged .*loss became .* kept the best weights/);
  const j = JSON.parse(r.stdout) as MergeJson;
  assert.match(j.diverged ?? '', /epoch 1/);
  for (const t of loadModel(out).graph.initializers.values()) {
    if (t.dataType === DataType.FLOAT) assert.ok(tensorToFloat32(t).every(Number.isFinite), t.name);
  }
});

test('a PyTorch GoogLeNet export with BN goes straight through: folds reported and verified, stems and modules merged', () => {
  const out = path.join(dir, 'googlenet_tv.merged.onnx');
  const r = rebirth('merge', torchExport('googlenet_tv'), '-o', out, '--retrain', 'none', '--explain', '--runs', '1', '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as MergeJson;
  assert.equal(j.folds.length, 1);
  assert.deepEqual([j.folds[0]?.rule, j.folds[0]?.count, j.folds[0]?.verified], ['fold-batchnorm', 21, true]);
  assert.ok((j.folds[0]?.maxRelError ?? 1) < 1e-4);
  assert.deepEqual(j.merges.map((m) => [m.name, m.kind, m.exact]), [
    ['conv1', 'streamline', false], ['conv3', 'streamline', false], ['inception3a', 'branch', false], ['inception3b', 'branch', false], ['inception4a', 'branch', false],
  ]);
  assert.match(j.merges[2]?.description ?? '', /1x1 into branch2/);
  assert.deepEqual(j.refused, []);
  const merged = loadModel(out);
  assert.equal(merged.graph.nodes.filter((n) => n.opType === 'BatchNormalization').length, 0);

  // --no-fold: what happened before folding came first.
  const raw = rebirth('merge', torchExport('googlenet_tv'), '-o', path.join(dir, 'googlenet_tv.raw.onnx'), '--no-fold', '--explain', '--runs', '1');
  assert.equal(raw.code, 0, raw.stderr);
  assert.match(raw.stdout, /^folds: skipped \(--no-fold\)$/m);
  assert.match(raw.stdout, /no mergeable block found: the model is unchanged/);
  assert.match(raw.stdout, /left alone: conv1: '\/conv1\/bn\/BatchNormalization' \(BatchNormalization\) follows the conv and is not folded into it/);
});

test('SqueezeNet Fire modules merge exactly; the text output has the folds line and the refusals', () => {
  const out = path.join(dir, 'squeezenet_fire.merged.onnx');
  const r = rebirth('merge', torchExport('squeezenet_fire'), '-o', out, '--explain', '--runs', '1');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^folds: none needed$/m);
  for (const m of ['features.3', 'features.4', 'features.5', 'features.7']) {
    assert.match(r.stdout, new RegExp(`^${m.replace('.', '\\.')} +fire +2 parallel convs -> 1, exact: expand1x1 1x1 -> \\d+ \\(centre taps\\), expand3x3 3x3 -> \\d+; Conv 3x3 -> \\d+ \\+ Relu \\(conv FLOPs x1\\.80\\)$`, 'm'));
  }
  assert.match(r.stdout, /^features\.0 +streamline +Conv 7x7\/2 \+ Relu \+ MaxPool 3x3\/2 ceil -> Conv 11x11\/4/m);
  assert.equal(loadModel(out).graph.nodes.filter((n) => n.opType === 'Concat').length, 0);

  const lrn = rebirth('merge', torchExport('lrn_flatten'), '-o', path.join(dir, 'lrn.merged.onnx'), '--explain', '--runs', '1');
  assert.equal(lrn.code, 0, lrn.stderr);
  assert.match(lrn.stdout, /^folded first \(exact, verified on ONNX Runtime\): remove-identity x2 \(max abs error 0\.0e\+0, rel 0\.0e\+0\)$/m);
  assert.match(lrn.stdout, /left alone: conv1: .*PyTorch's LocalResponseNorm/);
});

test('bad merge options: one-line errors', () => {
  const out = path.join(dir, 'bad.onnx');
  for (const [args, pattern] of [
    [['--retrain', 'distill'], /--retrain distill .* needs --data fashion-mnist/],
    [['--init', 'magic'], /--init must be one of xavier, inherit, fit/],
    [['--reducer-ratio', '3'], /--reducer-ratio/],
    [['--validation', '5000'], /--validation only changes the retraining; it needs --data and a --retrain other than none/],
    [['--augment'], /--augment only changes the retraining; it needs --data and a --retrain other than none/],
    [['--checkpoint', teacher, '--retrain', 'distill', '--data', 'fashion-mnist'], /refusing to overwrite the input model/],
  ] as const) {
    expectOneLineError(rebirth('merge', teacher, '-o', out, ...args), pattern);
  }
});
